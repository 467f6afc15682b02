"""The outbox. Transitions write rows here in their own transaction; only the delivery sweep talks to the network."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# The reason on a row for a person with neither LINE nor e-mail (live routing): skipped, never sent.
NO_CONTACT = "no contact"


class Notification(models.Model):
    class Kind(models.TextChoices):
        CLASS_OPEN = "class_open", _("class is open")
        JOIN_LINK = "join_link", _("join link")
        FEEDBACK_LINK = "feedback_link", _("feedback link")
        CLASS_CLOSED = "class_closed", _("class closed")
        CLASS_CLOSED_EMPTY = "class_closed_empty", _("class closed early: no student joined")
        CLASS_CANCELLED = "class_cancelled", _("class cancelled")
        CLASS_RESCHEDULED = "class_rescheduled", _("class rescheduled")
        BOOKING_CANCELLED = "booking_cancelled", _("booking cancelled")
        BOOKING_REFUNDED = "booking_refunded", _("booking refunded")
        SERIES_TIME_CHANGE = "series_time_change", _("weekly class: local time changes")
        SERIES_OCCURRENCE_FULL = "series_occurrence_full", _("weekly class: occurrence full")
        RECORDING_READY = "recording_ready", _("recording ready")
        TEACHER_NO_SHOW = "teacher_no_show", _("teacher no-show (staff)")
        DELIVERY_FAILED = "delivery_failed", _("delivery failed (staff)")

    class Channel(models.TextChoices):
        LINE = "line", _("LINE")
        ZALO = "zalo", _("Zalo")
        EMAIL = "email", _("Email")
        LOG = "log", _("Log")
        NONE = "none", _("no contact")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    # "<kind>:<meeting id>:<recipient>": the database refuses a second copy of the same message to the same person.
    dedupe_key = models.CharField(max_length=200, unique=True, editable=False, verbose_name=_("dedupe key"))
    kind = models.CharField(max_length=32, choices=Kind.choices, editable=False, verbose_name=_("kind"))
    channel = models.CharField(max_length=16, choices=Channel.choices, editable=False, verbose_name=_("channel"))
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING, editable=False, verbose_name=_("state")
    )
    meeting = models.ForeignKey(
        "meetings.Meeting",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("meeting"),
    )
    student = models.ForeignKey(
        "classroom.Student", on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("student")
    )
    teacher = models.ForeignKey(
        "classroom.Teacher", on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("teacher")
    )
    address = models.CharField(
        max_length=254,
        blank=True,
        help_text=_("LINE user id, e-mail address or phone number (Zalo)"),
        verbose_name=_("address"),
    )
    line_channel = models.ForeignKey(
        "integrations.LineChannel", on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("line channel")
    )
    payload = models.JSONField(
        help_text=_("The rendered message: text, and for links an imagemap"), verbose_name=_("payload")
    )
    # Identical payloads to one LINE channel are delivered together by multicast.
    payload_hash = models.CharField(max_length=64, editable=False, verbose_name=_("payload hash"))
    attempts = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("next attempt at"))
    last_error = models.TextField(blank=True, editable=False, verbose_name=_("last error"))
    provider_message_id = models.CharField(
        max_length=200, blank=True, editable=False, verbose_name=_("provider message id")
    )
    # Generated once, reused on every retry: LINE answers 409 to a key it already accepted (no duplicate message).
    retry_key = models.UUIDField(default=uuid.uuid4, editable=False, verbose_name=_("retry key"))
    # The rows sent together in one LINE call, fixed before the first call (the retry key of its lowest row; a fresh
    # key for each half of a batch LINE refused with a 400, see integrations/line/channel.py): a retry resends
    # exactly this set with this key, so LINE's 409 can never cover a recipient it did not receive.
    line_batch_key = models.UUIDField(
        null=True, blank=True, editable=False, db_index=True, verbose_name=_("line batch key")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("sent at"))
    failed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("failed at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="notification_due"),
            models.Index(fields=["meeting", "kind"], name="notification_meeting_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.address or '?'} ({self.state})"
