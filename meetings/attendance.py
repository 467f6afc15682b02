"""Attendance evidence (who was in the room, when) and the close path's settlement step.

Sessions arrive from the provider (webhooks, polling, reports) or from the local room page. Recording is idempotent
on ``(meeting, source, session_key)``: a replayed event updates the same row, and a "left" that arrives before its
"joined" creates the session with both times.

Presence on the local room page is a heartbeat (``last_seen_at``): a session whose heartbeat stopped ended at its last
heartbeat plus ``LOCAL_PRESENCE_MARGIN_SECONDS``, whether or not anyone wrote ``left_at`` yet. Everything that asks
"who is in the room now?" uses ``present_at``, and everything that asks "when did it end?" uses ``session_end``.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Greatest

from core import audit
from meetings.models import Meeting, MeetingParticipant

logger = logging.getLogger("classroom.attendance")
Role = MeetingParticipant.Role


def presence_margin() -> dt.timedelta:
    return dt.timedelta(seconds=settings.LOCAL_PRESENCE_MARGIN_SECONDS)


def session_end(left_at: dt.datetime | None, last_seen_at: dt.datetime | None) -> dt.datetime | None:
    """When a session ended: ``left_at``; for an open heartbeat-tracked session, its last heartbeat plus the margin
    (it has ended by then unless another heartbeat comes); None: open, with no heartbeat to go by."""
    if left_at is not None:
        return left_at
    if last_seen_at is not None:
        return last_seen_at + presence_margin()
    return None


def present_at(now: dt.datetime, sessions: QuerySet | None = None) -> QuerySet:
    """The ``sessions`` (default: all) of people in the room at ``now``: not left, and, when heartbeat-tracked, seen
    within the margin. A teacher whose page went silent an hour ago is not in the room."""
    sessions = MeetingParticipant.objects.all() if sessions is None else sessions
    return sessions.filter(left_at__isnull=True).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__gt=now - presence_margin())
    )


def end_lapsed_sessions(sessions: QuerySet, *, now: dt.datetime) -> int:
    """Write ``left_at`` on the open ``sessions`` whose heartbeat stopped before ``now`` − margin: they ended at their
    last heartbeat plus the margin (``session_end``). Returns how many."""
    return sessions.filter(left_at__isnull=True, last_seen_at__lte=now - presence_margin()).update(
        left_at=F("last_seen_at") + presence_margin()
    )


def record_session(
    meeting: Meeting,
    *,
    source: str,
    session_key: str,
    identity: str,
    role: str,
    joined_at: dt.datetime,
    left_at: dt.datetime | None = None,
    display_name: str = "",
    teacher=None,
    student=None,
    last_seen_at: dt.datetime | None = None,
) -> tuple[MeetingParticipant, bool]:
    """Create or complete one session. Returns (session, created). A later ``left_at`` never moves back, an earlier
    ``joined_at`` wins (events out of order). ``last_seen_at``: only when creating (heartbeats: ``heartbeat``)."""
    defaults = {
        "identity": identity,
        "role": role,
        "joined_at": joined_at,
        "left_at": left_at,
        "display_name": display_name,
        "teacher": teacher,
        "student": student,
        "last_seen_at": last_seen_at,
    }
    try:
        with transaction.atomic():
            session, created = MeetingParticipant.objects.select_for_update().get_or_create(
                meeting=meeting, source=source, session_key=session_key, defaults=defaults
            )
    except IntegrityError:  # a twin event created it between our SELECT and INSERT
        session, created = (
            MeetingParticipant.objects.get(meeting=meeting, source=source, session_key=session_key),
            False,
        )
    if not created:
        changes = {}
        if joined_at < session.joined_at:
            changes["joined_at"] = joined_at
        if left_at is not None and (session.left_at is None or left_at > session.left_at):
            changes["left_at"] = max(left_at, changes.get("joined_at", session.joined_at))
        if changes:
            MeetingParticipant.objects.filter(pk=session.pk).update(**changes)
            for key, value in changes.items():
                setattr(session, key, value)
    return session, created


def teacher_joined(meeting: Meeting, *, now: dt.datetime) -> None:
    """The teacher is in the room: an open meeting becomes in progress (the open sweep does the same for a teacher
    who came early, before it opened)."""
    from meetings.lifecycle import mark_in_progress

    if meeting.state == Meeting.State.OPEN:
        mark_in_progress(meeting, now=now)


def end_open_sessions(meeting: Meeting, *, now: dt.datetime, source: str) -> int:
    """The room was ended for everyone: sessions still open end now (or at their own start, if another service's
    clock put that a little after ours: a session never ends before it starts), except those whose heartbeat had
    stopped: they ended at their last heartbeat plus the margin."""
    sessions = MeetingParticipant.objects.filter(meeting=meeting, source=source)
    lapsed = end_lapsed_sessions(sessions, now=now)
    return lapsed + sessions.filter(left_at__isnull=True).update(left_at=Greatest(F("joined_at"), Value(now)))


# --- heartbeat-tracked presence (the local room page) -----------------------------------------------------------------


def heartbeat(meeting: Meeting, *, source: str, identity: str, now: dt.datetime) -> MeetingParticipant | None:
    """``identity`` is in the room at ``now``: its present session is seen now. Sessions of theirs whose heartbeat
    had stopped are ended first (at their last heartbeat plus the margin), so a heartbeat after a gap never stretches
    an old session over the gap. Returns the present session, or None when there is none (the caller may start
    one: ``start_presence``)."""
    sessions = MeetingParticipant.objects.filter(meeting=meeting, source=source, identity=identity)
    end_lapsed_sessions(sessions, now=now)
    present = present_at(now, sessions)
    # Never moves back: a heartbeat delayed in transit must not shorten what a later one recorded.
    present.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now)).update(last_seen_at=now)
    return present.order_by("-joined_at", "-id").first()


def start_presence(
    meeting: Meeting, *, source: str, identity: str, role: str, now: dt.datetime, display_name: str = "", **person
) -> MeetingParticipant:
    """A new heartbeat-tracked session of ``identity`` from ``now``. Its key names the session before it, so two
    requests racing to start one (two tabs opened together) make one row: the unique ``(meeting, source,
    session_key)`` lets one insert and gives the other the same session."""
    previous = (
        MeetingParticipant.objects.filter(meeting=meeting, source=source, identity=identity)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    session, created = record_session(
        meeting,
        source=source,
        session_key=f"{identity}#after-{previous or 0}",
        identity=identity,
        role=role,
        joined_at=now,
        display_name=display_name,
        last_seen_at=now,
        **person,
    )
    if not created:
        heartbeat(meeting, source=source, identity=identity, now=now)
    return session


def end_presence(meeting: Meeting, *, source: str, identity: str, now: dt.datetime) -> int:
    """``identity`` left the room at ``now`` (the Leave button, or the page being closed): their present session
    ends now; one whose heartbeat had already stopped keeps its end at the last heartbeat plus the margin."""
    sessions = MeetingParticipant.objects.filter(meeting=meeting, source=source, identity=identity)
    lapsed = end_lapsed_sessions(sessions, now=now)
    return lapsed + present_at(now, sessions).update(left_at=Greatest(F("joined_at"), Value(now)))


def settle(meeting: Meeting, *, now: dt.datetime) -> str:
    """One meeting's attendance and revenue step (a manual close, tests). Returns what happened: "present",
    "absent" or "unknown", with ", no payout" when nobody paid; "already settled" when there was nothing to do.

    The verdict (``meetings.verdict``) may call the video provider, so it is computed before the transaction. Then,
    under the meeting's row lock and only if it is still unsettled (two workers settling at once: the second finds
    it settled and changes nothing; the payout's unique meeting column backs this up), one transaction stores the
    verdict and its evidence, creates the one payout and, when the teacher was not (provably) there or a student
    complained, puts the meeting in the review queue with the payout held and alerts staff once. Anything raised
    here rolls all of it back; the sweep records the failure on the meeting and the next sweep tries again.
    """
    from meetings.verdict import verify_attendance

    meeting = Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)
    if meeting.state != Meeting.State.CLOSED or meeting.settled_at is not None:
        return "already settled"
    found = verify_attendance(meeting, now=now)
    outcomes = _settle_locked([meeting.pk], now=now, verdicts={meeting.pk: found}, skip_locked=False)
    return outcomes.get(meeting.pk, "already settled")


def settle_batch(meeting_ids, *, now: dt.datetime, verdicts: dict | None = None) -> dict[int, str]:
    """``settle`` for a batch, in one transaction (the ``settle_closed_meetings`` sweep). ``verdicts``: computed
    beforehand, outside any transaction, when the evidence needs an outside call; None: the evidence is all in our
    database (``VideoProvider.evidence_is_local``) and is read here, under the lock. Meetings another worker holds
    (``SKIP LOCKED``) or that are settled already are left out. Returns {meeting id: outcome} of those settled here;
    raises (rolling the whole batch back) if any of them fails, so the caller can retry them one by one."""
    return _settle_locked(list(meeting_ids), now=now, verdicts=verdicts, skip_locked=True)


def settle_claimed(meetings: list[Meeting], *, now: dt.datetime) -> dict[int, str]:
    """``settle_batch`` for meetings the caller already claimed: closed, unsettled, with teacher and course, read
    and row-locked (``FOR NO KEY UPDATE SKIP LOCKED``) in the caller's transaction, and with local evidence only."""
    return _settle_locked(meetings, now=now, verdicts=None, skip_locked=True)


# The meeting fields a settlement writes.
SETTLED_FIELDS = [
    "attendance_verdict",
    "teacher_attended_seconds",
    "attendance_source",
    "attendance_evidence",
    "settled_at",
    "requires_manual_review",
    "review_reason",
    "review_state",
]


def _settle_locked(meetings: list, *, now: dt.datetime, verdicts: dict | None, skip_locked: bool):
    """Lock the still-unsettled meetings and settle them: the same statements for one meeting or five hundred.
    ``meetings``: ids to lock, or Meeting rows already locked by the caller's transaction."""
    from bookings import transitions as booking_transitions
    from bookings.models import Booking
    from meetings.verdict import verify_attendance_many
    from notifications import outbox

    outcomes: dict[int, str] = {}
    logged = []
    with transaction.atomic():
        if meetings and not isinstance(meetings[0], Meeting):
            meetings = list(
                Meeting.objects.select_for_update(no_key=True, skip_locked=skip_locked, of=("self",))
                .select_related("teacher", "course")
                .filter(pk__in=meetings, state=Meeting.State.CLOSED, settled_at__isnull=True)
                .order_by("pk")
            )
        if not meetings:
            return outcomes
        if verdicts is None:
            verdicts = verify_attendance_many(meetings, now=now)
        # Per meeting: the gross of its completed bookings and whether any of them carries a complaint.
        completed = {
            meeting_id: (gross, complaints)
            for meeting_id, gross, complaints in Booking.objects.filter(
                meeting_id__in=[m.pk for m in meetings], status=Booking.Status.COMPLETED
            )
            .order_by()
            .values("meeting_id")
            .annotate(gross=Sum("amount"), complaints=Count("pk", filter=Q(has_complaint=True)))
            .values_list("meeting_id", "gross", "complaints")
        }
        payouts, history, alerts = [], [], []
        for meeting in meetings:
            found = verdicts[meeting.pk]
            if isinstance(found, Exception):
                raise found  # its provider call failed (not as unreachable): the caller retries one by one
            gross, complaints = completed.get(meeting.pk, (None, 0))
            review_reason = found.review_reason or ("student complaint" if complaints else "")
            seconds = "?" if found.seconds is None else f"{found.seconds} s"
            summary = f"teacher {found.verdict} ({seconds}, {found.source})"
            meeting.attendance_verdict = found.verdict
            meeting.teacher_attended_seconds = found.seconds
            meeting.attendance_source = found.source
            meeting.attendance_evidence = found.evidence
            meeting.settled_at = now
            if gross is None:
                # Nobody paid, so there is nothing to pay out or refund and nothing for staff to decide.
                outcome, review_reason = f"{found.verdict}, no payout", ""
                summary += "; no completed bookings: no payout"
            else:
                outcome = found.verdict
                payouts.append(
                    booking_transitions.PayoutOrder(
                        meeting, gross, meeting.teacher.effective_commission_rate, review_reason
                    )
                )
            history += audit.entries(
                Meeting,
                [(meeting.pk, Meeting.Verdict.UNVERIFIED, meeting.pk)],
                to_state=found.verdict,
                at=now,
                field="attendance",
                reason=summary,
                data={"seconds": found.seconds, "source": found.source},
            )
            if review_reason:
                meeting.requires_manual_review = True
                meeting.review_reason = review_reason
                meeting.review_state = Meeting.ReviewState.AWAITING
                history += audit.entries(
                    Meeting,
                    [(meeting.pk, Meeting.ReviewState.NONE, meeting.pk)],
                    to_state=Meeting.ReviewState.AWAITING,
                    at=now,
                    field="review_state",
                    reason=review_reason,
                )
                alerts += outbox.staff_alerts(
                    outbox.Notification.Kind.TEACHER_NO_SHOW,
                    now=now,
                    meeting=meeting,
                    context={"reason": review_reason},
                )
            outcomes[meeting.pk] = outcome
            logged.append((meeting.pk, outcome, review_reason))
        booking_transitions.create_payouts(payouts, now=now)
        _store_settled(meetings)
        audit.write(history)
        outbox.enqueue(alerts)
    for meeting_id, outcome, review_reason in logged:
        logger.info("settled", extra={"meeting_id": meeting_id, "outcome": outcome, "review_reason": review_reason})
    return outcomes


def _store_settled(meetings: list[Meeting]) -> None:
    """Write ``SETTLED_FIELDS`` of locked meetings. On PostgreSQL: one ``UPDATE ... FROM (VALUES ...)`` per thousand
    rows, because Django's ``bulk_update`` builds a ``CASE`` expression per row and field in Python, which was most
    of a 500-meeting batch's time. Values go through each field's own ``get_db_prep_save`` (JSON, time zones) and
    are cast to the column types (``VALUES`` alone would guess text). SQLite (the demo, tests) keeps ``bulk_update``:
    ``UPDATE ... FROM`` needs SQLite 3.33, newer than Django requires."""
    fields = [Meeting._meta.get_field(name) for name in SETTLED_FIELDS]
    if connection.vendor != "postgresql":
        Meeting.objects.bulk_update(meetings, SETTLED_FIELDS)
        return
    quote = connection.ops.quote_name
    table, pk = quote(Meeting._meta.db_table), Meeting._meta.pk
    assignments = ", ".join(
        f"{quote(f.column)} = v.column{n + 2}::{f.db_type(connection)}" for n, f in enumerate(fields)
    )
    placeholders = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    for start in range(0, len(meetings), 1000):
        chunk = meetings[start : start + 1000]
        params = []
        for meeting in chunk:
            params.append(meeting.pk)
            params += [f.get_db_prep_save(getattr(meeting, f.attname), connection) for f in fields]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([placeholders] * len(chunk))}) AS v "
                f"WHERE {table}.{quote(pk.column)} = v.column1::{pk.db_type(connection)}",
                params,
            )


# --- sessions reported by a video provider (webhooks, polls, reports) -------------------------------------------------


def _person(meeting: Meeting, identity: str):
    """(teacher, student, role) for a provider identity ("teacher:7", "student:42"; see meetings.access.identity_of).
    Anything else (a Zoom guest we could not match) is recorded with role "other" and no person."""
    from classroom.models import Student
    from meetings.access import identity_of

    if identity == identity_of(meeting.teacher):
        return meeting.teacher, None, Role.TEACHER
    kind, _, pk = identity.partition(":")
    if kind == "student" and pk.isdigit():
        student = Student.objects.filter(pk=int(pk)).first()
        if student is not None:
            return None, student, Role.STUDENT
    return None, None, Role.OTHER


def store_provider_session(meeting: Meeting, session, *, source: str, now: dt.datetime):
    """Record one ``integrations.video.Session`` as evidence; the teacher being in the room makes an open meeting
    in progress. Returns (MeetingParticipant, created)."""
    teacher, student, role = _person(meeting, session.identity)
    # Clocks differ between services: a "left" stamped before its "joined" is kept as a zero-length session.
    left_at = None if session.left_at is None else max(session.left_at, session.joined_at)
    participant, created = record_session(
        meeting,
        source=source,
        session_key=session.session_key,
        identity=session.identity,
        role=role,
        joined_at=session.joined_at,
        left_at=left_at,
        display_name=session.display_name,
        teacher=teacher,
        student=student,
    )
    if teacher is not None and participant.left_at is None:
        teacher_joined(meeting, now=now)
    return participant, created


def store_room_snapshot(meeting: Meeting, sessions, *, source: str, now: dt.datetime) -> dict:
    """A poll's answer: ``sessions`` is everyone in the room at ``now``. Each is recorded (idempotent), and a session
    of this source still open here but no longer in the room has ended, at ``now`` at the latest (the poll cannot
    say when exactly; a webhook, when it arrives, records the real time under its own source)."""
    created = sum(store_provider_session(meeting, s, source=source, now=now)[1] for s in sessions)
    ended = (
        MeetingParticipant.objects.filter(meeting=meeting, source=source, left_at__isnull=True, joined_at__lte=now)
        .exclude(session_key__in=[s.session_key for s in sessions])
        .update(left_at=now)
    )
    return {"sessions_seen": len(sessions), "sessions_new": created, "sessions_ended": ended}
