"""The meeting sweeps of the lifecycle: each ``sweep(now) -> counts`` claims what is due at ``now`` and applies one
transition (the minimum-participants check, opening, closing, closing empty classes early), plus the attendance
poll. Rooms are made and ended in ``meetings.rooms``, settlement is ``meetings.settlement``.

Run order (settings.SWEEPS) matters only for catch-up inside one run: the minimum-participants check before opening,
opening before closing (a meeting whose whole slot passed during downtime is opened quietly and then closed by the
normal close path in the same run), the attendance poll before the early close of empty classes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext_noop

from bookings.models import Booking
from classroom import policies
from core import audit
from core.i18n import Reason
from core.sweeping import claim_batches
from integrations.http import ProviderError
from integrations.video import get_provider, polling_providers
from meetings import lifecycle
from meetings.access import window_for
from meetings.models import Meeting, MeetingParticipant
from meetings.outside_calls import OUTSIDE_CALL_BATCH, failure_recorder, not_backing_off
from meetings.room_events import store_room_snapshot

logger = logging.getLogger("classroom.sweeps")
State = Meeting.State


def due_to_open(now: dt.datetime):
    """Scheduled meetings whose start has come (read through the partial index ``meeting_due_open``)."""
    return (
        not_backing_off(Meeting.objects.filter(state=State.SCHEDULED, start_time__lte=now), now, "open")
        .select_related("teacher", "course")
        .order_by("start_time")
    )


def due_to_close(now: dt.datetime):
    """Open or running meetings whose close moment has come (partial index ``meeting_due_close``): each by the
    close delay of the policy version it opened with."""
    close_moment_passed = policies.by_rule(
        "meeting_auto_close_delay_minutes", lambda minutes: Q(end_time__lte=now - dt.timedelta(minutes=minutes)), now
    )
    return (
        not_backing_off(Meeting.objects.filter(close_moment_passed, state__in=Meeting.ACTIVE_STATES), now, "close")
        .select_related("teacher")
        .order_by("end_time")
    )


# What this process last re-pinned every scheduled class to: (school version, ((course, version), ...)).
_pinned_to: dict = {}


def repin_policies(now: dt.datetime) -> Counter:
    """A policy version that has taken effect applies to every class that has not opened yet: re-pin them, each
    with a history row ("policy v3 -> v5"). Costs nothing while the versions in force are the ones this process
    last applied (a new class is pinned when it is scheduled), so it can run every tick of the clock."""
    school = policies.current(now)
    courses = {course_id: policies.current(now, course_id) for course_id in policies.override_course_ids()}
    in_force = (school.version, tuple(sorted((course_id, r.version) for course_id, r in courses.items())))
    if _pinned_to.get("in_force") == in_force:
        return Counter()
    targets = [(~Q(course_id__in=list(courses)), school)] + [(Q(course_id=c), r) for c, r in courses.items()]
    counts: Counter = Counter()
    for scope, rules in targets:
        while moved := lifecycle.repin_batch(scope, rules, now=now, limit=settings.SWEEP_BATCH_SIZE):
            counts["repinned"] += moved
    _pinned_to["in_force"] = in_force
    return counts


def open_due_meetings(now: dt.datetime) -> Counter:
    def apply(batch):
        return {"opened": len(batch), "notifications": lifecycle.open_batch(batch, now=now)}

    return claim_batches("open_due_meetings", lambda: due_to_open(now), apply, on_failure=failure_recorder("open", now))


def close_due_meetings(now: dt.datetime) -> Counter:
    def apply(batch):
        return {"closed": len(batch), "notifications": lifecycle.close_batch(batch, now=now)}

    return claim_batches(
        "close_due_meetings", lambda: due_to_close(now), apply, on_failure=failure_recorder("close", now)
    )


def check_minimum_participants(now: dt.datetime) -> Counter:
    """At MIN_PARTICIPANTS_CHECK_MINUTES before start, a class with fewer confirmed bookings than its course minimum
    is cancelled and refunded. A check whose moment passed during downtime still runs until the class starts; after
    that the class is left to open (cancelling a class that has begun helps nobody) and the history says so."""
    horizon = now + dt.timedelta(minutes=settings.MIN_PARTICIPANTS_CHECK_MINUTES)

    def due():
        return (
            not_backing_off(
                Meeting.objects.filter(
                    state=State.SCHEDULED, min_participants_checked_at__isnull=True, start_time__lte=horizon
                ),
                now,
                "min_participants",
            )
            .select_related("course")
            .order_by("start_time")
        )

    def apply(batch):
        confirmed = dict(
            Booking.objects.filter(meeting__in=batch, status=Booking.Status.CONFIRMED)
            .values_list("meeting_id")
            .annotate(n=Count("id"))
        )
        counts, passed, history = Counter(), [], []
        for meeting in batch:
            booked, minimum = confirmed.get(meeting.pk, 0), meeting.course.min_participants
            if meeting.start_time <= now:
                logger.warning(
                    "minimum-participants check missed until after start; not cancelling",
                    extra={"meeting_id": meeting.pk, "booked": booked, "minimum": minimum},
                )
                passed.append(meeting.pk)
                history += audit.entries(
                    Meeting,
                    [(meeting.pk, "", meeting.pk)],
                    to_state="skipped",
                    at=now,
                    field="min_participants",
                    reason="catch-up: the class had started before the check ran; not cancelled",
                )
                counts["skipped"] += 1
            elif booked < minimum:
                reason = Reason(
                    gettext_noop("only %(booked)s of the minimum %(minimum)s students booked"),
                    booked=booked,
                    minimum=minimum,
                )
                lifecycle.cancel_meeting(meeting, now=now, reason=reason)
                counts["cancelled"] += 1
            else:
                passed.append(meeting.pk)
                counts["passed"] += 1
        Meeting.objects.filter(pk__in=passed).update(min_participants_checked_at=now)
        audit.write(history)
        return counts

    return claim_batches("check_minimum_participants", due, apply, on_failure=failure_recorder("min_participants", now))


def due_to_close_empty(now: dt.datetime):
    """Open or running classes whose late-join grace is over (each by its own policy version's grace, and only where
    that version has ``close_empty_classes_early`` on), whose close moment has not come (the normal close takes
    those) and whose room was made, with nobody but their teacher ever recorded in the room.

    Anyone else counts as someone: a booked student, and also a guest the provider could not match to one (a Zoom
    guest under another name may well be a booked student), because closing a class on a student who is in it is
    worse than letting an empty one run."""
    someone_came = MeetingParticipant.objects.filter(meeting=OuterRef("pk")).exclude(
        role=MeetingParticipant.Role.TEACHER
    )
    switched_on = policies.by_rule("close_empty_classes_early", lambda on: Q() if on else Q(pk__in=[]), now)
    grace_over = policies.by_rule(
        "student_late_join_grace_minutes", lambda minutes: Q(start_time__lte=now - dt.timedelta(minutes=minutes)), now
    )
    close_moment_ahead = policies.by_rule(
        "meeting_auto_close_delay_minutes", lambda minutes: Q(end_time__gt=now - dt.timedelta(minutes=minutes)), now
    )
    return (
        not_backing_off(
            # A class whose room was never made (the video service down since provisioning) is left to the normal
            # close: nobody could have joined it, so nobody is a no-show for not joining.
            Meeting.objects.filter(
                switched_on,
                grace_over,
                close_moment_ahead,
                state__in=Meeting.ACTIVE_STATES,
                room_provisioned_at__isnull=False,
            ),
            now,
            "close empty",
        )
        .exclude(Exists(someone_came))
        .select_related("teacher")
        .order_by("start_time")
    )


def close_empty_meetings(now: dt.datetime) -> Counter:
    """Empty classes end early (issue 17): a class no booked student has joined by the end of its late-join grace,
    after which nobody can join for the first time (``meetings.access``), closes then through the normal close
    (``lifecycle.close_batch``) with the reason "no student joined". The teacher is told in their language and zone,
    the room is ended and attendance settled by the sweeps that follow, as for every close: a teacher who waited in
    the room is present (and the students no-shows under the policy), a class nobody came to goes to review.

    The claim locks each class (``FOR NO KEY UPDATE``), and the local room page takes the same lock before a
    student's first entry (``integrations.local.provider.enter_room``), so a student entering in the last second of
    the grace either is recorded before the decision (the class stays open) or finds it closed ("this class has
    ended"); never both. Sessions reported later by a provider's webhook cannot be waited for: see README."""

    # Classes found not empty (or not due) under the lock: left out for the rest of this run, so the loop ends.
    kept: set[int] = set()

    def apply(batch):
        # The moment joining closed for each, from the join rules themselves, under the lock (re-checked: the claim's
        # query was read before the lock).
        joining_closed_at = {m.pk: window_for(m, "student", now).first_entry_until for m in batch}
        came = set(
            MeetingParticipant.objects.filter(meeting__in=batch)
            .exclude(role=MeetingParticipant.Role.TEACHER)
            .values_list("meeting_id", flat=True)
        )
        empty = [m for m in batch if m.pk not in came and joining_closed_at[m.pk] <= now < m.close_at]
        kept.update({m.pk for m in batch} - {m.pk for m in empty})
        if not empty:
            return {"not empty": len(batch)}
        written = lifecycle.close_batch(empty, now=now, joining_closed_at=joining_closed_at)
        counts = Counter(closed=len(empty), notifications=written)
        if len(batch) > len(empty):
            counts["not empty"] = len(batch) - len(empty)
        return counts

    return claim_batches(
        "close_empty_meetings",
        lambda: due_to_close_empty(now).exclude(pk__in=kept),
        apply,
        on_failure=failure_recorder("close empty", now),
    )


# --- sweeps that call the video provider ------------------------------------------------------------------------------


def poll_room_attendance(now: dt.datetime) -> Counter:
    """The backup for lost webhooks (LiveKit drops them when its queue is full): for rooms that can hold people now
    (the teacher may enter before start) and whose provider can list who is in a room, record everyone present
    (source e.g. livekit_poll) and end the polled sessions of people no longer there.

    Read-only towards the meeting: no lease, no retry_at. A provider that cannot be reached is logged and skipped;
    recording a failure on the meeting would push back its close, which matters more than a missed poll."""
    providers = polling_providers()
    if not providers:
        return Counter()
    due = (
        Meeting.objects.filter(
            room_provider__in=providers, room_provisioned_at__isnull=False, room_ended_at__isnull=True
        )
        .filter(
            Q(state__in=Meeting.ACTIVE_STATES)
            | Q(state=State.SCHEDULED)
            & policies.by_rule(
                "teacher_early_join_minutes",
                lambda minutes: Q(start_time__lte=now + dt.timedelta(minutes=minutes)),
                now,
            )
        )
        .select_related("teacher")
        .order_by("start_time")
    )
    counts: Counter = Counter()
    for meeting in due.iterator(chunk_size=OUTSIDE_CALL_BATCH):
        provider = get_provider(meeting.room_provider)
        try:
            sessions = provider.live_sessions(meeting)
        except ProviderError as exc:
            logger.warning("attendance poll failed", extra={"meeting_id": meeting.pk, "error": str(exc)})
            counts["failed"] += 1
            continue
        counts["polled"] += 1
        counts.update(store_room_snapshot(meeting, sessions, source=provider.poll_source, now=now))
    return counts
