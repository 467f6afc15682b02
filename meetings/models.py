"""Meetings and their attendance evidence. Their history is ``core.models.StateChange``."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.files.storage import storages
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from classroom import policies
from classroom.models import cited_policy

# StateGuardMixin is also named here by the migrations that made the models using it (meetings 0001, bookings 0001).
from core.models import StateGuardMixin, choice_check


class MeetingState(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In Progress")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


class ReviewState(models.TextChoices):
    NONE = "", _("not needed")
    AWAITING = "awaiting", _("awaiting review")
    RELEASED = "released", _("released (teacher attended)")
    NO_SHOW = "no_show", _("no-show confirmed")
    EXCUSED = "excused", _("excused (partly paid)")


class Meeting(StateGuardMixin, models.Model):
    State = MeetingState
    ReviewState = ReviewState

    class Verdict(models.TextChoices):
        UNVERIFIED = "unverified", _("attendance not yet verified")
        PRESENT = "present", _("Present")
        ABSENT = "absent", _("Absent")
        UNKNOWN = "unknown", _("unknown (evidence unavailable)")

    ACTIVE_STATES = (State.OPEN, State.IN_PROGRESS)

    teacher = models.ForeignKey(
        "classroom.Teacher", on_delete=models.PROTECT, related_name="meetings", verbose_name=_("teacher")
    )
    course = models.ForeignKey(
        "classroom.Course", on_delete=models.PROTECT, related_name="meetings", verbose_name=_("course")
    )
    title = models.CharField(max_length=200, verbose_name=_("title"))
    start_time = models.DateTimeField(help_text=_("UTC"), verbose_name=_("start time"))
    end_time = models.DateTimeField(help_text=_("UTC"), verbose_name=_("end time"))
    capacity = models.PositiveIntegerField(validators=[MinValueValidator(1)], verbose_name=_("capacity"))
    # Maintained by the booking transitions under a conditional UPDATE; the CHECK below is the last line of defence.
    seats_taken = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("seats taken"))

    state = models.CharField(
        max_length=16, choices=State.choices, default=State.SCHEDULED, editable=False, verbose_name=_("state")
    )
    opened_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("opened at"))
    closed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("closed at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("cancelled at"))
    auto_opened = models.BooleanField(
        null=True, editable=False, help_text=_("True: by the sweep; False: by staff."), verbose_name=_("auto opened")
    )
    auto_closed = models.BooleanField(
        null=True, editable=False, help_text=_("True: by the sweep; False: by staff."), verbose_name=_("auto closed")
    )
    min_participants_checked_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("min participants checked at")
    )
    # The policy version whose windows and money rules apply (classroom.policies): the one in force when the class was
    # scheduled, re-pinned while it has not opened, kept from the moment it opens.
    policy = cited_policy()

    # Attendance verdict and settlement (the close path's second step; retried until settled_at is set).
    attendance_verdict = models.CharField(
        max_length=16,
        choices=Verdict.choices,
        default=Verdict.UNVERIFIED,
        editable=False,
        verbose_name=_("attendance verdict"),
    )
    teacher_attended_seconds = models.PositiveIntegerField(
        null=True, blank=True, editable=False, verbose_name=_("teacher attended seconds")
    )
    attendance_source = models.CharField(max_length=32, blank=True, editable=False, verbose_name=_("attendance source"))
    attendance_evidence = models.JSONField(
        default=dict, blank=True, editable=False, verbose_name=_("attendance evidence")
    )
    settled_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("settled at"))
    requires_manual_review = models.BooleanField(
        default=False, editable=False, verbose_name=_("requires manual review")
    )
    review_reason = models.CharField(max_length=200, blank=True, editable=False, verbose_name=_("review reason"))
    # The review's own small machine (meetings.review): "" -> awaiting -> released | no_show | excused.
    review_state = models.CharField(
        max_length=16,
        choices=ReviewState.choices,
        default=ReviewState.NONE,
        blank=True,
        editable=False,
        verbose_name=_("review state"),
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="reviewed_meetings",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("reviewed at"))
    review_note = models.TextField(blank=True, editable=False, verbose_name=_("review note"))

    # Video room, filled by the provider at provisioning.
    room_provider = models.CharField(max_length=16, blank=True, editable=False, verbose_name=_("room provider"))
    room_name = models.CharField(max_length=128, blank=True, editable=False, verbose_name=_("room name"))
    room_external_id = models.BigIntegerField(
        null=True, blank=True, editable=False, help_text=_("e.g. the Zoom id"), verbose_name=_("room external id")
    )
    room_join_url = models.URLField(max_length=1000, blank=True, editable=False, verbose_name=_("room join url"))
    room_host_url = models.TextField(blank=True, editable=False, verbose_name=_("room host url"))
    room_password = models.CharField(max_length=32, blank=True, editable=False, verbose_name=_("room password"))
    room_data = models.JSONField(default=dict, blank=True, editable=False, verbose_name=_("room data"))
    room_provisioned_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("room provisioned at")
    )
    room_ended_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("room ended at"))

    # The last failure of an outside call or a sweep step for this meeting, and when to try again.
    last_error = models.TextField(blank=True, editable=False, verbose_name=_("last error"))
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last error at"))
    retry_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("retry at"))
    # A worker calling the video provider for this meeting holds it until then; a crashed worker's lease expires.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("lease until"))
    failure_count = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("failure count"))

    # A weekly class's occurrence (meetings.series): its series and the wall-clock start the rule gave it, in the
    # series' zone ("2027-03-14T02:30", RFC 5545's RECURRENCE-ID). The key never changes when the occurrence is moved,
    # so the sweep never makes it twice. ``series_detached``: edited on its own ("this occurrence"), so edits of the
    # whole series and re-expansion leave it alone. ``series_note``: what the rule did with a wall time that does not
    # exist or happens twice that day.
    series = models.ForeignKey(
        "meetings.Series",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="occurrences",
        editable=False,
        verbose_name=_("series"),
    )
    original_local_start = models.CharField(
        max_length=16, blank=True, editable=False, verbose_name=_("original local start")
    )
    series_detached = models.BooleanField(default=False, editable=False, verbose_name=_("series detached"))
    series_note = models.CharField(max_length=300, blank=True, editable=False, verbose_name=_("series note"))
    # The iCalendar SEQUENCE: one more on every change calendars must see (moved, cancelled, retitled).
    sequence = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("sequence"))

    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["start_time", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "original_local_start"],
                condition=Q(series__isnull=False),
                name="meeting_series_occurrence_once",
                violation_error_message="This occurrence of the series already exists.",
            ),
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")),
                name="meeting_end_after_start",
                violation_error_message=_("The end time must be after the start time."),
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1),
                name="meeting_capacity_at_least_1",
                violation_error_message=_("A meeting needs room for at least one student."),
            ),
            models.CheckConstraint(
                condition=Q(seats_taken__lte=F("capacity")),
                name="meeting_seats_within_capacity",
                violation_error_message=_("The class is full."),
            ),
            choice_check("state", MeetingState.values, name="meeting_state_valid", message=_("Unknown meeting state.")),
            choice_check(
                "review_state",
                ReviewState.values,
                name="meeting_review_state_valid",
                message=_("Unknown review state."),
            ),
        ]
        # Partial indexes: each sweep's "what is due now" reads only rows in the state it looks at, so its cost
        # follows the due work, not the size of the table (healthchecks' api_check_aa_not_down idea).
        indexes = [
            models.Index(fields=["start_time"], condition=Q(state="scheduled"), name="meeting_due_open"),
            models.Index(fields=["end_time"], condition=Q(state__in=["open", "in_progress"]), name="meeting_due_close"),
            models.Index(
                fields=["start_time"],
                condition=Q(state__in=["scheduled", "open", "in_progress"], room_provisioned_at__isnull=True),
                name="meeting_due_provision",
            ),
            models.Index(
                fields=["start_time"],
                condition=Q(state="scheduled", min_participants_checked_at__isnull=True),
                name="meeting_due_min_check",
            ),
            models.Index(
                fields=["closed_at"], condition=Q(state="closed", settled_at__isnull=True), name="meeting_due_settle"
            ),
            models.Index(
                fields=["id"],
                condition=Q(
                    state__in=["closed", "cancelled"], room_provisioned_at__isnull=False, room_ended_at__isnull=True
                ),
                name="meeting_due_room_end",
            ),
            models.Index(fields=["closed_at"], condition=Q(requires_manual_review=True), name="meeting_review_queue"),
            models.Index(fields=["teacher", "start_time"], name="meeting_teacher_start"),
            # What a student may book, in list order (meetings.api): not over yet, so proportional to the classes
            # ahead, not to the history; policy_id too, so counting them needs no table rows.
            models.Index(
                fields=["start_time", "id", "policy"],
                condition=Q(state__in=["scheduled", "open", "in_progress"]),
                name="meeting_bookable",
            ),
            # Staff's list (every meeting, in list order): a page reads its own rows.
            models.Index(fields=["start_time", "id"], name="meeting_list_order"),
        ]
        # Beyond add/change/delete/view: the steps that move money get their own (the admin checks them).
        permissions = [
            ("review_meeting", "Can decide no-show reviews (release, confirm no-show, excuse)"),
            ("cancel_meeting", "Can cancel a class (refunds every booking)"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.start_time:%Y-%m-%d %H:%M} UTC)"

    def save(self, *args, **kwargs):
        # Every creation path pins a version (schedule_meeting passes its ``now``); this covers the others (series
        # expansion, fixtures) with the version in force as the row is written.
        if self.policy_id is None:
            self.policy_id = policies.current(timezone.now(), self.course_id).version
        super().save(*args, **kwargs)

    # --- policy and windows (DESIGN.md "Time"): computed from the clock, never from what a sweep has done ------------
    @property
    def rules(self) -> policies.Rules:
        """The pinned version's rules (``classroom.policies``). A row made without ``save()`` (a bulk insert) and
        not pinned yet by the re-pin sweep: the version in force now."""
        if self.policy_id is None:
            return policies.current(timezone.now(), self.course_id)
        return policies.version(self.policy_id)

    def rules_at(self, now: dt.datetime) -> policies.Rules:
        """The rules that decide for this class at ``now``: before it opens, the version in force now (re-pinning
        follows within a tick); once it has opened, the version it opened with."""
        if self.state == MeetingState.SCHEDULED:
            return policies.current(now, self.course_id)
        return self.rules

    def close_at_under(self, rules: policies.Rules) -> dt.datetime:
        return self.end_time + rules.close_delay

    @property
    def close_at(self) -> dt.datetime:
        return self.close_at_under(self.rules)

    @property
    def closed_early(self) -> bool:
        """Closed by the clock before its close moment: the early close of a class no student joined
        (``meetings.sweeps.close_empty_meetings``); the normal close comes at the close moment or later."""
        return bool(self.auto_closed) and self.closed_at is not None and self.closed_at < self.close_at

    @property
    def teacher_may_join_from(self) -> dt.datetime:
        return self.start_time - self.rules.early_entry

    @property
    def student_may_join_until(self) -> dt.datetime:
        return self.start_time + self.rules.late_join_grace

    @property
    def open_lateness(self) -> dt.timedelta | None:
        return None if self.opened_at is None else self.opened_at - self.start_time

    open_lateness.fget.short_description = _("Open lateness")  # the admin's label for it

    @property
    def seats_left(self) -> int:
        return self.capacity - self.seats_taken


class MeetingParticipant(models.Model):
    """One attendance session: a person in the room from ``joined_at`` to ``left_at`` (open while null).

    The local room page tracks presence by heartbeat (``last_seen_at``): an open session whose heartbeat stopped
    ended at ``last_seen_at`` + LOCAL_PRESENCE_MARGIN_SECONDS (``meetings.attendance.session_end``). Sessions without
    a ``last_seen_at`` come from a provider that tells us when they ended.
    """

    class Role(models.TextChoices):
        TEACHER = "teacher", _("Teacher")
        STUDENT = "student", _("Student")
        OTHER = "other", _("Other")

    class Source(models.TextChoices):
        LOCAL = "local", _("local room page")
        LIVEKIT_WEBHOOK = "livekit_webhook", _("Livekit Webhook")
        LIVEKIT_POLL = "livekit_poll", _("Livekit Poll")
        ZOOM_WEBHOOK = "zoom_webhook", _("Zoom Webhook")
        ZOOM_REPORT = "zoom_report", _("Zoom Report")
        MANUAL = "manual", _("entered by staff")

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="participants", verbose_name=_("meeting")
    )
    role = models.CharField(max_length=16, choices=Role.choices, verbose_name=_("role"))
    teacher = models.ForeignKey(
        "classroom.Teacher", on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("teacher")
    )
    student = models.ForeignKey(
        "classroom.Student", on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("student")
    )
    identity = models.CharField(
        max_length=128, help_text=_("The provider's identity for this person."), verbose_name=_("identity")
    )
    display_name = models.CharField(max_length=200, blank=True, verbose_name=_("display name"))
    joined_at = models.DateTimeField(verbose_name=_("joined at"))
    left_at = models.DateTimeField(null=True, blank=True, verbose_name=_("left at"))
    last_seen_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("The last heartbeat from the local room page (empty for other sources)."),
        verbose_name=_("last seen at"),
    )
    source = models.CharField(max_length=32, choices=Source.choices, verbose_name=_("source"))
    # The provider's id for this session (e.g. LiveKit participant sid + join time): replays update, never duplicate.
    session_key = models.CharField(max_length=200, verbose_name=_("session key"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("meeting participant")
        verbose_name_plural = _("meeting participants")
        ordering = ["meeting", "joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "source", "session_key"],
                name="participant_session_once",
                violation_error_message=_("This attendance session is already recorded."),
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=F("joined_at")),
                name="participant_left_after_joined",
                violation_error_message=_("A session cannot end before it starts."),
            ),
        ]
        indexes = [models.Index(fields=["meeting", "role"], name="participant_meeting_role")]

    def __str__(self) -> str:
        return f"{self.display_name or self.identity} in {self.meeting_id}"


class Series(models.Model):
    """A weekly (or any RFC 5545) class: a wall-clock start in an IANA zone, a duration and a rule.

    The rule is expanded on naive wall-clock times and only then given the zone (``meetings.series``), so 19:30 in
    London stays 19:30 in London across both clock changes. Occurrences are ordinary meetings, made for a rolling
    horizon by the ``materialise_series`` sweep.
    """

    teacher = models.ForeignKey(
        "classroom.Teacher", on_delete=models.PROTECT, related_name="series", verbose_name=_("teacher")
    )
    course = models.ForeignKey(
        "classroom.Course", on_delete=models.PROTECT, related_name="series", verbose_name=_("course")
    )
    title = models.CharField(max_length=200, verbose_name=_("title"))
    capacity = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], verbose_name=_("capacity")
    )
    local_start = models.CharField(
        max_length=16,
        help_text=_("The first occurrence's wall-clock start in time_zone, e.g. 2027-03-01T19:30."),
        verbose_name=_("local start"),
    )
    time_zone = models.CharField(
        max_length=64, help_text=_("IANA zone of the wall-clock times (the teacher's)."), verbose_name=_("time zone")
    )
    duration_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], verbose_name=_("duration minutes")
    )
    rrule = models.CharField(
        max_length=500, help_text=_("RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20."), verbose_name=_("rrule")
    )
    exdates = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Wall-clock starts left out, e.g. 2027-04-05T19:30."),
        verbose_name=_("exdates"),
    )
    # "This and following" ends a series here (exclusive, a wall-clock start) and continues it as a new one.
    ends_before = models.CharField(max_length=16, blank=True, editable=False, verbose_name=_("ends before"))
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, editable=False, verbose_name=_("parent")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("series")
        verbose_name_plural = _("series")

    def __str__(self) -> str:
        return f"{self.title} ({self.rrule} from {self.local_start} {self.time_zone})"


class SeriesSubscription(models.Model):
    """A student's seat in every future occurrence of a series; bookings are made as occurrences are made."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("series"))
    student = models.ForeignKey(
        "classroom.Student", on_delete=models.PROTECT, related_name="series_subscriptions", verbose_name=_("student")
    )
    created_at = models.DateTimeField(verbose_name=_("created at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))

    class Meta:
        verbose_name = _("series subscription")
        verbose_name_plural = _("series subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["series", "student"],
                condition=Q(cancelled_at__isnull=True),
                name="series_subscription_once",
                violation_error_message=_("This student already follows this series."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} in {self.series}"


class CalendarFeed(models.Model):
    """A secret calendar URL (``/calendar/<token>.ics``) of one teacher or one student. Only the token's SHA-256 is
    kept (like ``classroom.ApiToken``); regenerating revokes the previous one."""

    teacher = models.ForeignKey(
        "classroom.Teacher", on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("teacher")
    )
    student = models.ForeignKey(
        "classroom.Student", on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("student")
    )
    digest = models.CharField(max_length=64, unique=True, editable=False, verbose_name=_("digest"))
    created_at = models.DateTimeField(editable=False, verbose_name=_("created at"))
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("revoked at"))

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        constraints = [
            models.CheckConstraint(
                condition=Q(teacher__isnull=True) ^ Q(student__isnull=True),
                name="calendar_feed_one_owner",
                violation_error_message=_("A calendar feed belongs to one teacher or one student."),
            ),
        ]

    def __str__(self) -> str:
        return f"calendar of {self.teacher or self.student}"


def recordings_storage():
    """The storage of stored recordings (``STORAGES["recordings"]``): a private folder by default, S3 through
    django-storages by setting alone. A callable, so the migration does not freeze the backend."""
    return storages["recordings"]


class RecordingState(models.TextChoices):
    EXPECTED = "expected", _("expected")
    PROCESSING = "processing", _("processing")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")
    NONE = "none", _("not recorded")
    DELETED = "deleted", _("deleted")


class Recording(StateGuardMixin, models.Model):
    """One recorded file of a class (a video, its audio, its chat), or the one row that says a recording is expected
    (no file known yet: ``file_id`` empty) or cannot be made (``none``, with the reason).

    ``expected`` → ``processing`` (the provider has the file; ours is to download) → ``ready`` (stored in
    ``file``, verified) | ``failed`` (with the reason); ``ready`` → ``deleted`` at ``retention_until``. Every change
    goes through ``meetings.recordings`` (compare-and-set, a history row). The provider's keys (``external_id``: the
    Zoom meeting instance UUID; ``file_id``: its recording file id) are unique per meeting: a webhook sent twice or
    a poll after the webhook finds the row it made, never a second one.
    """

    State = RecordingState

    class Kind(models.TextChoices):
        VIDEO = "video", _("video")
        AUDIO = "audio", _("audio")
        CHAT = "chat", _("chat")

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="recordings", verbose_name=_("meeting"))
    provider = models.CharField(max_length=16, verbose_name=_("provider"))
    external_id = models.CharField(
        max_length=200, blank=True, help_text=_("e.g. the Zoom meeting UUID"), verbose_name=_("external id")
    )
    file_id = models.CharField(max_length=200, blank=True, verbose_name=_("file id"))
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.VIDEO, verbose_name=_("kind"))
    file_type = models.CharField(max_length=16, blank=True, verbose_name=_("file type"))
    state = models.CharField(
        max_length=16,
        choices=RecordingState.choices,
        default=RecordingState.EXPECTED,
        editable=False,
        verbose_name=_("state"),
    )
    size_bytes = models.BigIntegerField(null=True, blank=True, editable=False, verbose_name=_("size (bytes)"))
    duration_seconds = models.PositiveIntegerField(null=True, blank=True, editable=False, verbose_name=_("duration"))
    # The provider's checksum when it gives one (compared after the copy); ours (SHA-256) of the stored copy.
    provider_checksum = models.CharField(
        max_length=128, blank=True, editable=False, verbose_name=_("provider checksum")
    )
    sha256 = models.CharField(max_length=64, blank=True, editable=False, verbose_name=_("sha256"))
    # Where and how to fetch it. The token is a secret: never shown, logged or put in history.
    download_url = models.TextField(blank=True, editable=False, verbose_name=_("download url"))
    download_token = models.TextField(blank=True, editable=False, verbose_name=_("download token"))
    # When the provider sent the URL and token we keep (a newer duplicate webhook replaces them, an older one not).
    token_sent_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("token sent at"))
    file = models.FileField(
        storage=recordings_storage, upload_to="", max_length=300, blank=True, editable=False, verbose_name=_("file")
    )
    ready_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("ready at"))
    retention_until = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("retention until"))
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("deleted at"))
    provider_deleted_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("deleted at the provider")
    )
    # The sweeps' bookkeeping: the next try (download, or the poll of an expected row), failures so far, the lease of
    # the worker downloading it now, the last error, and ``needs_poll`` (the token expired: ask the provider again).
    next_attempt_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("next attempt at"))
    attempts = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("attempts"))
    lease_until = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("lease until"))
    needs_poll = models.BooleanField(default=False, editable=False, verbose_name=_("needs poll"))
    last_error = models.TextField(blank=True, editable=False, verbose_name=_("last error"))
    created_at = models.DateTimeField(editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        ordering = ["meeting", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "external_id", "file_id"],
                name="recording_file_once",
                violation_error_message=_("This recording file is already known."),
            ),
            choice_check(
                "state", RecordingState.values, name="recording_state_valid", message=_("Unknown recording state.")
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="processing"), name="recording_due_download"),
            models.Index(fields=["retention_until"], condition=Q(state="ready"), name="recording_due_expiry"),
            models.Index(fields=["created_at"], condition=Q(state="expected"), name="recording_due_poll"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_id or '-'} of {self.meeting_id} ({self.state})"
