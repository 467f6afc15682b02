"""Meeting transitions: schedule, reschedule, open, start, close, cancel. The only code that changes Meeting.state.

    scheduled -> open -> in_progress -> closed          (scheduled|open|in_progress) -> cancelled

Each has a single-meeting form (admin actions, API, management commands: ``open_meeting``, ``close_meeting``,
``cancel_meeting``) built on :func:`core.statemachine.transition`, and the open/close burst has a batch form used
by the sweeps (``open_batch``, ``close_batch``): one ``UPDATE``, one history insert and one outbox insert for a
whole batch of locked meetings. Both forms share the effects (``_after_open``, ``_after_close``), so a meeting opened
by staff and one opened by the clock tell the same people the same thing.

Outside calls (ending the room, attendance evidence) happen after commit: ``transaction.on_commit`` for the
single-meeting forms, the ``end_rooms`` / ``settle_closed_meetings`` sweeps for everything (they also retry).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext

from bookings import transitions as booking_transitions
from bookings.models import Booking
from classroom import policies
from core import audit
from core.errors import IllegalTransition, InvalidTime
from core.i18n import Reason, source_text
from core.statemachine import Outcome, transition
from core.timezones import require_aware, to_local
from meetings import review
from meetings.attendance import present_at
from meetings.models import Meeting, MeetingParticipant
from meetings.rooms import end_rooms, forget_room
from meetings.settlement import settle_closed_meetings
from notifications import outbox

logger = logging.getLogger("classroom.lifecycle")
State = Meeting.State
Kind = outbox.Notification.Kind

# Opening later than this after start_time is a catch-up (the sweeps were not running) and says so in the history.
CATCH_UP_AFTER = dt.timedelta(seconds=60)


# --- scheduling ------------------------------------------------------------------------------------------------------


def validate_times(
    start_time: dt.datetime, end_time: dt.datetime, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The rules for a class's times; raises InvalidTime naming the field."""
    start_time = require_aware(start_time, field="start_time")
    end_time = require_aware(end_time, field="end_time")
    if end_time <= start_time:
        raise InvalidTime(gettext("end_time must be after start_time"), field="end_time")
    if start_time <= now:
        raise InvalidTime(gettext("start_time is in the past"), field="start_time")
    longest = dt.timedelta(minutes=settings.MAX_MEETING_DURATION_MINUTES)
    if end_time - start_time > longest:
        raise InvalidTime(
            gettext("a class may last at most %(minutes)s minutes")
            % {"minutes": settings.MAX_MEETING_DURATION_MINUTES},
            field="end_time",
        )
    return start_time, end_time


def schedule_meeting(
    *,
    teacher,
    course,
    title: str,
    start_time,
    end_time,
    now,
    capacity: int | None = None,
    actor=None,
    series=None,
    original_local_start: str = "",
    series_note: str = "",
) -> Meeting:
    """A new scheduled class. ``series``/``original_local_start``: an occurrence of a weekly class (meetings.series),
    unique on that pair, so a second worker making the same occurrence gets an IntegrityError, never a twin."""
    start_time, end_time = validate_times(start_time, end_time, now=now)
    with transaction.atomic():
        meeting = Meeting.objects.create(
            teacher=teacher,
            course=course,
            title=title or course.title,
            start_time=start_time,
            end_time=end_time,
            capacity=course.capacity if capacity is None else capacity,
            series=series,
            original_local_start=original_local_start,
            series_note=series_note,
            policy_id=policies.current(now, course.pk).version,
        )
        audit.record(
            Meeting,
            [(meeting.pk, "", meeting.pk)],
            to_state=State.SCHEDULED,
            at=now,
            actor=actor,
            reason=f"scheduled (series {series.pk}, {original_local_start})" if series else "scheduled",
            data={"series_note": series_note} if series_note else None,
        )
    return meeting


def edit_meeting(
    meeting: Meeting,
    *,
    now,
    actor=None,
    start_time=None,
    end_time=None,
    title=None,
    capacity: int | None = None,
    detach: bool = True,
    reason: str = "",
) -> Meeting:
    """Change a meeting's times, title or capacity; allowed only while it is scheduled (before it opens).

    An occurrence of a series whose times are changed here is ``series_detached`` (edited on its own: "this
    occurrence"), so edits of the whole series and the re-expansion leave it alone; the series code itself passes
    ``detach=False``. Every change counts one more iCalendar SEQUENCE."""
    with transaction.atomic():
        locked = Meeting.objects.select_for_update(no_key=True).get(pk=meeting.pk)
        if locked.state != State.SCHEDULED:
            raise IllegalTransition(
                gettext("meeting %(id)s is %(state)s; only a scheduled meeting can be edited")
                % {"id": locked.pk, "state": locked.state}
            )
        old = (locked.start_time, locked.end_time)
        old_title, old_capacity = locked.title, locked.capacity
        new_start, new_end = validate_times(start_time or locked.start_time, end_time or locked.end_time, now=now)
        locked.start_time, locked.end_time = new_start, new_end
        if title:
            locked.title = title
        if capacity is not None:
            if capacity < max(1, locked.seats_taken):
                raise IllegalTransition(
                    gettext("capacity cannot go below the %(seats)s seats already booked")
                    % {"seats": locked.seats_taken}
                )
            locked.capacity = capacity
        if (old, old_title, old_capacity) != ((new_start, new_end), locked.title, locked.capacity):
            locked.sequence += 1
        if old != (new_start, new_end):
            if locked.series_id and detach:
                locked.series_detached = True
            # The minimum-participants check and the links are due again relative to the new times.
            locked.min_participants_checked_at = None
            booking_transitions.reschedule_appointments(locked, now=now, actor=actor)
            _tell_rescheduled(locked, now=now)
            replaced = {}
            if locked.room_provisioned_at:
                # The room was made for the old times (a Zoom meeting has a start and a duration): the provisioning
                # sweep makes a new one. The old one was never started; its id stays in the history.
                replaced = {"replaced_room": locked.room_name, "replaced_external_id": locked.room_external_id}
                forget_room(locked)
            audit.record(
                Meeting,
                [(locked.pk, f"{old[0]:%Y-%m-%dT%H:%MZ}", locked.pk)],
                to_state=f"{new_start:%Y-%m-%dT%H:%MZ}",
                at=now,
                actor=actor,
                field=booking_transitions.RESCHEDULED_FIELD,
                reason=reason or f"rescheduled (ends {new_end:%Y-%m-%dT%H:%MZ})",
                data=replaced,
            )
        locked.save()
    return locked


def _tell_rescheduled(meeting: Meeting, *, now: dt.datetime) -> int:
    """In the edit's transaction (before its history row): the teacher and every confirmed student are told the new
    times, each in their language and zone. The outbox key names the move (its number and the new start), so each
    move tells once, a move back to earlier times tells again, and an edit that changes no time tells nobody."""
    moves = booking_transitions.reschedules(meeting.pk).count()
    suffix = f":move{moves + 1}:{meeting.start_time:%Y-%m-%dT%H:%MZ}"
    students = outbox.contacts_by_meeting(
        Booking.objects.filter(meeting_id=meeting.pk, status=Booking.Status.CONFIRMED)
    ).get(meeting.pk, [])
    recipients = [
        outbox.for_teacher(meeting.teacher),
        *(r for s in students for r in outbox.for_student(s, Kind.CLASS_RESCHEDULED)),
    ]
    return outbox.enqueue(
        outbox.message(Kind.CLASS_RESCHEDULED, recipient, now=now, meeting=meeting, dedupe_suffix=suffix)
        for recipient in recipients
    )


# --- open ------------------------------------------------------------------------------------------------------------


def _after_open(meetings: list[Meeting], *, now: dt.datetime, notify: bool) -> int:
    """In the opening transaction: tell the teacher and every confirmed student; a teacher already in the room (they
    may enter early) makes the meeting in progress at once. Returns the number of outbox rows written."""
    ids = [m.pk for m in meetings]
    teacher_sessions = MeetingParticipant.objects.filter(meeting_id__in=ids, role=MeetingParticipant.Role.TEACHER)
    teacher_present = set(present_at(now, teacher_sessions).values_list("meeting_id", flat=True))
    for meeting in meetings:
        if meeting.pk in teacher_present:
            mark_in_progress(meeting, now=now, reason="the teacher was already in the room at opening")
    if not notify:
        return 0
    students_by_meeting = outbox.contacts_by_meeting(
        Booking.objects.filter(meeting_id__in=ids, status=Booking.Status.CONFIRMED)
    )
    rows = []
    for meeting in meetings:
        students = students_by_meeting.get(meeting.pk, [])
        rows.append(
            outbox.message(
                Kind.CLASS_OPEN,
                outbox.for_teacher(meeting.teacher),
                now=now,
                meeting=meeting,
                context={"students": len(students)},
            )
        )
        rows += [row for s in students for row in outbox.to_student(Kind.CLASS_OPEN, s, now=now, meeting=meeting)]
    return outbox.enqueue(rows)


def _open_reason(meeting: Meeting, now: dt.datetime, actor) -> tuple[str, bool]:
    """(reason for the history, whether to notify). A meeting whose close moment passed while nothing ran is opened
    only to be closed by the normal close path; telling students "your class is open" then would be wrong."""
    if actor is not None:
        return f"opened by {audit.actor_name(actor)}", True
    late = now - meeting.start_time
    if now >= meeting.close_at_under(meeting.rules_at(now)):
        return (
            f"catch-up: start and close moments passed while no sweep ran ({int(late.total_seconds())} s ago); "
            "opened without messages, closing next"
        ), False
    if late > CATCH_UP_AFTER:
        return f"catch-up: opened {int(late.total_seconds())} s after start_time (no sweep ran in between)", True
    return "start time reached", True


# --- policy versions (classroom.policies) -----------------------------------------------------------------------------


def repin_batch(scope, rules, *, now: dt.datetime, limit: int) -> int:
    """Up to ``limit`` scheduled classes in ``scope`` (a Q) not yet pinned to ``rules``' version are re-pinned to
    it, with a history row each, in one transaction. Returns how many moved (0: none left)."""
    with transaction.atomic():
        rows = list(
            Meeting.objects.select_for_update(no_key=True)
            .filter(scope, state=State.SCHEDULED)
            .exclude(policy_id=rules.version)
            .values_list("pk", "policy_id", "start_time", "end_time")[:limit]
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        Meeting.objects.filter(pk__in=ids, state=State.SCHEDULED).update(policy_id=rules.version)
        booking_transitions.retime_pending_links([(pk, start, end) for pk, _, start, end in rows], rules)
        _record_repins(
            [(pk, old) for pk, old, _, _ in rows],
            rules,
            now=now,
            reason=f"policy v{rules.version} took effect before the class opened",
        )
    return len(rows)


def _record_repins(rows, rules, *, now: dt.datetime, reason: str) -> None:
    """The history of ``(meeting id, old version)`` pairs moved to ``rules``' version."""
    audit.write(
        [
            entry
            for pk, old in rows
            for entry in audit.entries(
                Meeting,
                [(pk, f"v{old}" if old else "", pk)],
                to_state=f"v{rules.version}",
                at=now,
                field="policy",
                reason=reason,
                data={"policy": rules.version},
            )
        ]
    )


def _pin_at_open(meetings: list[Meeting], *, now: dt.datetime) -> None:
    """Opening pins the version in force at ``now`` (normally the class has it already: ``repin_batch`` ran in the
    tick it took effect); from now on the class keeps it."""
    moved: dict = {}
    for meeting in meetings:
        rules = policies.current(now, meeting.course_id)
        if meeting.policy_id != rules.version:
            moved.setdefault(rules, []).append((meeting.pk, meeting.policy_id))
            meeting.policy_id = rules.version
    for rules, rows in moved.items():
        Meeting.objects.filter(pk__in=[pk for pk, _ in rows]).update(policy_id=rules.version)
        _record_repins(rows, rules, now=now, reason=f"opened under policy v{rules.version}, in force at the opening")


def open_batch(meetings: list[Meeting], *, now: dt.datetime) -> int:
    """The sweep's form: ``meetings`` are scheduled and locked by the caller's transaction. Returns outbox rows."""
    ids = [m.pk for m in meetings]
    updated = Meeting.objects.filter(pk__in=ids, state=State.SCHEDULED).update(
        state=State.OPEN, opened_at=now, auto_opened=True
    )
    if updated != len(ids):
        raise IllegalTransition(
            gettext("%(changed)s of %(total)s meetings were no longer scheduled")
            % {"changed": len(ids) - updated, "total": len(ids)}
        )
    _pin_at_open(meetings, now=now)
    history, notify, quiet = [], [], []
    for meeting in meetings:
        reason, tell = _open_reason(meeting, now, None)
        history += audit.entries(
            Meeting,
            [(meeting.pk, State.SCHEDULED, meeting.pk)],
            to_state=State.OPEN,
            at=now,
            reason=reason,
            data={"lateness_seconds": (now - meeting.start_time).total_seconds()},
        )
        (notify if tell else quiet).append(meeting)
        meeting.state, meeting.opened_at, meeting.auto_opened, meeting._loaded_state = State.OPEN, now, True, State.OPEN
    audit.write(history)
    written = _after_open(notify, now=now, notify=True) + _after_open(quiet, now=now, notify=False)
    for meeting, row in zip(meetings, history, strict=True):
        _log(meeting, State.SCHEDULED, State.OPEN, None, row.reason, lateness_seconds=row.data["lateness_seconds"])
    return written


def open_meeting(meeting: Meeting, *, now: dt.datetime, actor=None, reason: str = "") -> Outcome:
    """Open one meeting now (staff, API, ``manage.py open_meeting``). Already open or in progress: "already"."""
    meeting = Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)
    default_reason, notify = _open_reason(meeting, now, actor)

    def effects(_from):
        _pin_at_open([meeting], now=now)
        _after_open([_reread(meeting)], now=now, notify=notify)

    outcome = transition(
        meeting,
        to=State.OPEN,
        allowed_from=[State.SCHEDULED],
        done_states=[State.IN_PROGRESS],
        now=now,
        actor=actor,
        reason=reason or default_reason,
        meeting_id=meeting.pk,
        updates={"opened_at": now, "auto_opened": actor is None},
        data={"lateness_seconds": (now - meeting.start_time).total_seconds()},
        in_transaction=effects,
    )
    if outcome.already:
        return Outcome(False, outcome.from_state, outcome.to_state, f"meeting {meeting.pk} is already open")
    return outcome


def mark_in_progress(meeting: Meeting, *, now: dt.datetime, reason: str = "the teacher joined") -> Outcome:
    """The teacher is in the room. Only an open meeting moves; anything else is reported, not raised, because
    join events arrive at any time (early, late, replayed)."""
    try:
        return transition(
            meeting,
            to=State.IN_PROGRESS,
            allowed_from=[State.OPEN],
            now=now,
            reason=reason,
            meeting_id=meeting.pk,
            done_states=[State.CLOSED, State.CANCELLED],
        )
    except IllegalTransition as exc:
        return Outcome(False, meeting.state, meeting.state, str(exc))


# --- close -----------------------------------------------------------------------------------------------------------


# The history's reason for the early close (meetings.sweeps.close_empty_meetings), followed by the details.
NO_STUDENT_JOINED = "no student joined"


def _after_close(meetings: list[Meeting], *, now: dt.datetime, actor, joining_closed_at: dict | None = None) -> int:
    """In the closing transaction: bookings complete, join links nobody can use any more are skipped, the teacher
    is told. The room is ended and attendance settled after commit (see module docstring).

    ``joining_closed_at`` ({meeting id: when its late-join grace ended}): the early close of classes no student
    joined. Their teacher is told why (``class_closed_empty``, the moment in their zone, instead of
    ``class_closed``) and their feedback links, not sent yet, are skipped: nobody came, so nobody is asked how it
    was."""
    ids = [m.pk for m in meetings]
    booking_transitions.complete_bookings(ids, now=now, actor=actor)
    appointments = booking_transitions.Appointment.objects.filter(meeting_id__in=ids)
    booking_transitions.mark_links(
        appointments,
        "join_link",
        booking_transitions.LinkState.SKIPPED,
        now=now,
        note="class closed before the join link was sent",
        actor=actor,
    )
    if not joining_closed_at:
        return outbox.enqueue(
            outbox.message(Kind.CLASS_CLOSED, outbox.for_teacher(m.teacher), now=now, meeting=m) for m in meetings
        )
    booking_transitions.mark_links(
        appointments,
        "feedback_link",
        booking_transitions.LinkState.SKIPPED,
        now=now,
        note=f"class closed early: {NO_STUDENT_JOINED}",
        actor=actor,
    )
    rows = []
    for m in meetings:
        teacher = outbox.for_teacher(m.teacher)
        until = f"{to_local(joining_closed_at[m.pk], teacher.time_zone):%H:%M}"
        rows.append(outbox.message(Kind.CLASS_CLOSED_EMPTY, teacher, now=now, meeting=m, context={"until": until}))
    return outbox.enqueue(rows)


def close_batch(meetings: list[Meeting], *, now: dt.datetime, joining_closed_at: dict | None = None) -> int:
    """The sweep's form: ``meetings`` are open or in progress and locked by the caller's transaction.

    ``joining_closed_at`` ({meeting id: when its late-join grace ended}): the early close of classes no booked
    student joined by then (``meetings.sweeps.close_empty_meetings``). The same close, with the history's reason
    "no student joined: ..." and the teacher told why (``_after_close``)."""
    history = []
    for from_state in (State.OPEN, State.IN_PROGRESS):
        group = [m for m in meetings if m.state == from_state]
        if not group:
            continue
        updated = Meeting.objects.filter(pk__in=[m.pk for m in group], state=from_state).update(
            state=State.CLOSED, closed_at=now, auto_closed=True
        )
        if updated != len(group):
            raise IllegalTransition(
                gettext("%(changed)s meetings changed state while being closed") % {"changed": len(group) - updated}
            )
        if joining_closed_at:
            for m in group:
                rules = m.rules
                history += audit.entries(
                    Meeting,
                    [(m.pk, from_state, m.pk)],
                    to_state=State.CLOSED,
                    at=now,
                    reason=f"{NO_STUDENT_JOINED}: joining closed at {joining_closed_at[m.pk]:%H:%M} UTC (late-join "
                    f"grace {rules.student_late_join_grace_minutes} min, policy v{rules.version})",
                    data={"joining_closed_at": joining_closed_at[m.pk].isoformat(), "policy": rules.version},
                )
            continue
        # Each class closes by its own policy version's delay: the history says the one that applied to it.
        delays = {m.pk: m.rules.meeting_auto_close_delay_minutes for m in group}
        for delay in sorted(set(delays.values())):
            history += audit.entries(
                Meeting,
                [(m.pk, from_state, m.pk) for m in group if delays[m.pk] == delay],
                to_state=State.CLOSED,
                at=now,
                reason=gettext("closed %(minutes)s minutes after the end") % {"minutes": delay},
            )
    audit.write(history)
    written = _after_close(meetings, now=now, actor=None, joining_closed_at=joining_closed_at)
    logged = NO_STUDENT_JOINED if joining_closed_at else "close moment reached"
    for meeting in meetings:
        _log(meeting, meeting.state, State.CLOSED, None, logged)
        meeting.state, meeting.closed_at, meeting._loaded_state = State.CLOSED, now, State.CLOSED
    return written


def close_meeting(meeting: Meeting, *, now: dt.datetime, actor=None, reason: str = "") -> Outcome:
    """Close one meeting now (staff, API, ``manage.py close_meeting``). Already closed: "already"."""
    meeting = Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)
    outcome = transition(
        meeting,
        to=State.CLOSED,
        allowed_from=[State.OPEN, State.IN_PROGRESS],
        now=now,
        actor=actor,
        reason=reason or (f"closed by {audit.actor_name(actor)}" if actor else "close moment reached"),
        meeting_id=meeting.pk,
        updates={"closed_at": now, "auto_closed": actor is None},
        in_transaction=lambda _from: _after_close([_reread(meeting)], now=now, actor=actor),
    )
    if outcome.changed:
        transaction.on_commit(lambda: after_commit_outside_calls(meeting.pk, now=now))
    else:
        outcome = Outcome(False, outcome.from_state, outcome.to_state, f"meeting {meeting.pk} is already closed")
    return outcome


# --- cancel ----------------------------------------------------------------------------------------------------------


LATE_TEACHER_CANCELLATION = "late teacher cancellation"


def _by_the_teacher(meeting: Meeting, actor) -> bool:
    return actor is not None and not isinstance(actor, str) and actor.pk == meeting.teacher.user_id


def cancel_meeting(meeting: Meeting, *, now: dt.datetime, actor=None, reason: str | Reason) -> Outcome:
    """Cancel: confirmed bookings are refunded in full, everyone is told, the room (if any) is ended after commit.
    The class's teacher cancelling inside the policy's cancellation cutoff also puts the class in the review queue
    ("late teacher cancellation"), for staff to decide as for a no-show.

    ``reason``: a :class:`core.i18n.Reason` is told to each person in their language; a ``str`` (typed by staff
    or the teacher) as typed. The history keeps the English text."""
    meeting = Meeting.objects.select_related("teacher").get(pk=meeting.pk)
    told, reason = reason, source_text(reason)

    def effects(_from):
        locked = _reread(meeting)
        rules = locked.rules_at(now)
        refunded = booking_transitions.release_bookings_of_cancelled_meeting(
            locked.pk, now=now, actor=actor, reason=reason, policy_id=rules.version
        )
        if _by_the_teacher(locked, actor) and now >= locked.start_time - rules.cancellation_cutoff:
            review.enter_review(
                locked.pk, reason=f"{LATE_TEACHER_CANCELLATION} (policy v{rules.version})", now=now, actor=actor
            )
        context = {"reason": told}
        outbox.enqueue(
            [
                outbox.message(
                    Kind.CLASS_CANCELLED, outbox.for_teacher(locked.teacher), now=now, meeting=locked, context=context
                )
            ]
            + [
                row
                for b in refunded
                for row in outbox.to_student(Kind.CLASS_CANCELLED, b.student, now=now, meeting=locked, context=context)
            ]
        )

    outcome = transition(
        meeting,
        to=State.CANCELLED,
        allowed_from=[State.SCHEDULED, State.OPEN, State.IN_PROGRESS],
        now=now,
        actor=actor,
        reason=reason,
        meeting_id=meeting.pk,
        updates={"cancelled_at": now, "sequence": F("sequence") + 1},
        in_transaction=effects,
    )
    if outcome.changed:
        # Whether a room exists is read after commit (end_rooms looks for one): it may have been provisioned
        # between our first read and the lock.
        transaction.on_commit(lambda: after_commit_outside_calls(meeting.pk, now=now))
    return outcome


def after_commit_outside_calls(meeting_id: int, *, now: dt.datetime) -> None:
    """End the room and settle attendance right away for a meeting staff closed or cancelled; a failure is recorded
    and the sweeps retry it, so nothing here may raise."""
    try:
        end_rooms(now, only_ids=[meeting_id])
        settle_closed_meetings(now, only_ids=[meeting_id])
    except Exception:
        logger.exception("after-commit calls failed; the sweeps will retry", extra={"meeting_id": meeting_id})


def _reread(meeting: Meeting) -> Meeting:
    """The meeting as it is under the transition's row lock, with its teacher and course: what the effects of a
    single-meeting transition tell people must not come from a read made before the lock (a substitute teacher
    committed in between would not be told)."""
    return Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)


def _log(meeting: Meeting, from_state: str, to_state: str, actor, reason: str, **fields) -> None:
    audit.log(Meeting, meeting.pk, from_state, to_state, actor=audit.actor_name(actor), reason=reason, **fields)


# --- substitute teacher ----------------------------------------------------------------------------------------------


def substitute_teacher(meeting: Meeting, teacher, *, now: dt.datetime, actor=None, reason: str = "") -> Outcome:
    """Give a scheduled class another teacher (the first one fell ill, left...), with a history row (field
    "teacher", from "Charlie (#7)" to "Dana (#9)", both ids and names in its data).

    Only while the meeting is scheduled: from opening on, the messages and the attendance are the teacher's. Also
    refused once the current teacher has entered the room (they may from TEACHER_EARLY_JOIN_MINUTES before start):
    their recorded sessions would count as the substitute's attendance, and pay them.

    A room already provisioned stays as it is: it belongs to the class, not to the teacher. LiveKit and the local
    room hand out a token when a person joins, for whoever teaches then ("teacher:<id>"); on Zoom the host is the pool
    account, so the host link (start_url) is the account's and goes to whoever teaches when the class opens (the
    opening message), and the host's attendance is credited to the meeting's teacher at settlement. The payout goes
    to the meeting's teacher at settlement: the substitute.
    """
    reason = reason or "substitute teacher"
    with transaction.atomic():
        locked = Meeting.objects.select_for_update(no_key=True).get(pk=meeting.pk)
        old = locked.teacher
        old_label, new_label = _teacher_label(old), _teacher_label(teacher)
        if locked.state != State.SCHEDULED:
            raise IllegalTransition(
                gettext("meeting %(id)s is %(state)s; only a scheduled meeting can get a substitute teacher")
                % {"id": locked.pk, "state": locked.state}
            )
        if old.pk == teacher.pk:
            return Outcome(
                False,
                old_label,
                old_label,
                gettext("meeting %(id)s is already taught by %(teacher)s") % {"id": locked.pk, "teacher": old_label},
            )
        if MeetingParticipant.objects.filter(meeting=locked, role=MeetingParticipant.Role.TEACHER).exists():
            raise IllegalTransition(
                gettext("%(teacher)s has already entered the room of meeting %(id)s; it cannot get a substitute now")
                % {"teacher": old_label, "id": locked.pk}
            )
        # The compare-and-set: still scheduled and still the teacher read under the lock.
        changed = Meeting.objects.filter(pk=locked.pk, state=State.SCHEDULED, teacher_id=old.pk).update(teacher=teacher)
        if changed != 1:  # cannot happen under the row lock; kept as the compare-and-set's own guarantee
            raise IllegalTransition(
                gettext("meeting %(id)s changed while we looked at it; try again") % {"id": locked.pk}
            )
        audit.record(
            Meeting,
            [(locked.pk, old_label, locked.pk)],
            to_state=new_label,
            at=now,
            actor=actor,
            field="teacher",
            reason=reason,
            data={
                "from_teacher_id": old.pk,
                "from_teacher": old.display_name,
                "to_teacher_id": teacher.pk,
                "to_teacher": teacher.display_name,
            },
        )
    meeting.teacher = teacher
    _log(meeting, old_label, new_label, actor, reason, field="teacher")
    return Outcome(
        True,
        old_label,
        new_label,
        gettext("meeting %(id)s: teacher %(from)s → %(to)s") % {"id": meeting.pk, "from": old_label, "to": new_label},
    )


def _teacher_label(teacher) -> str:
    """ "Dana (#9)", within the history's 32 characters: a long name is cut, the id never."""
    suffix = f" (#{teacher.pk})"
    return teacher.display_name[: 32 - len(suffix)] + suffix
