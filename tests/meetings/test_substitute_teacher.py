"""lifecycle.substitute_teacher: a scheduled class gets another teacher, with history; the room stays; the
substitute is told at opening and paid at settlement."""

import datetime as dt

import pytest

from bookings.models import Payout
from core.errors import IllegalTransition
from core.models import StateChange
from meetings import lifecycle, rooms, sweeps
from meetings.models import Meeting
from meetings.settlement import settle
from notifications.models import Notification
from tests.concurrency import race
from tests.factories import MeetingFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, run_and_close, teacher_session


@pytest.fixture
def dana(db):
    return TeacherFactory(display_name="Dana", time_zone="Asia/Taipei")


def teacher_history(meeting):
    return list(
        StateChange.objects.filter(meeting=meeting, field="teacher")
        .order_by("id")
        .values_list("from_state", "to_state", "actor_name", "reason")
    )


@pytest.mark.django_db
def test_it_gives_a_scheduled_class_a_substitute_with_history(meeting, dana, staff, now):
    charlie = meeting.teacher
    outcome = lifecycle.substitute_teacher(meeting, dana, now=now, actor=staff, reason="Charlie is ill")
    assert (
        outcome.changed
        and outcome.message == f"meeting {meeting.pk}: teacher Charlie (#{charlie.pk}) → Dana (#{dana.pk})"
    )
    assert Meeting.objects.get(pk=meeting.pk).teacher == dana and meeting.teacher == dana
    assert teacher_history(meeting) == [(f"Charlie (#{charlie.pk})", f"Dana (#{dana.pk})", "sam", "Charlie is ill")]
    assert Meeting.objects.get(pk=meeting.pk).state == "scheduled"


@pytest.mark.django_db
def test_the_same_teacher_again_is_already_done_and_writes_nothing(meeting, now):
    outcome = lifecycle.substitute_teacher(meeting, meeting.teacher, now=now)
    assert not outcome.changed and "already taught by Charlie" in outcome.message
    assert teacher_history(meeting) == []


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["open", "in_progress", "closed", "cancelled"])
def test_only_a_scheduled_class_gets_a_substitute(meeting, dana, staff, now, state):
    if state == "cancelled":
        lifecycle.cancel_meeting(meeting, now=now, actor=staff, reason="no students")
    else:
        lifecycle.open_meeting(meeting, now=meeting.start_time)
        if state != "open":
            teacher_session(meeting, 0 * MINUTE, None)
            lifecycle.mark_in_progress(meeting, now=meeting.start_time)
        if state == "closed":
            lifecycle.close_meeting(meeting, now=meeting.close_at)
    assert Meeting.objects.get(pk=meeting.pk).state == state
    with pytest.raises(IllegalTransition, match=f"is {state}; only a scheduled meeting can get a substitute teacher"):
        lifecycle.substitute_teacher(meeting, dana, now=now, actor=staff)
    assert Meeting.objects.get(pk=meeting.pk).teacher.display_name == "Charlie"
    assert teacher_history(meeting) == []


@pytest.mark.django_db
def test_it_is_refused_once_the_teacher_entered_the_room(meeting, dana, now):
    teacher_session(meeting, -5 * MINUTE, -2 * MINUTE)  # Charlie came early, left, the class is still scheduled
    with pytest.raises(IllegalTransition, match="Charlie .* has already entered the room"):
        lifecycle.substitute_teacher(meeting, dana, now=meeting.start_time - MINUTE)
    assert Meeting.objects.get(pk=meeting.pk).teacher.display_name == "Charlie"


@pytest.mark.django_db
def test_a_long_name_is_cut_in_the_history_but_never_the_id(meeting, now):
    long = TeacherFactory(display_name="Maximiliana Bartholomew-Featherstonehaugh")
    lifecycle.substitute_teacher(meeting, long, now=now)
    change = StateChange.objects.get(meeting=meeting, field="teacher")
    assert len(change.to_state) <= 32 and change.to_state.endswith(f" (#{long.pk})")
    assert change.data["to_teacher"] == "Maximiliana Bartholomew-Featherstonehaugh"


@pytest.mark.django_db
def test_the_room_stays_and_the_substitute_is_told_at_opening_and_paid(meeting, alice, dana, now):
    book(alice, meeting, now=now)
    rooms.provision_rooms(meeting.start_time - 30 * MINUTE)
    before = Meeting.objects.values("room_provider", "room_name", "room_join_url", "room_provisioned_at").get(
        pk=meeting.pk
    )
    assert before["room_provisioned_at"] is not None
    lifecycle.substitute_teacher(meeting, dana, now=meeting.start_time - 20 * MINUTE)
    after = Meeting.objects.values("room_provider", "room_name", "room_join_url", "room_provisioned_at").get(
        pk=meeting.pk
    )
    assert after == before
    closed = run_and_close(Meeting.objects.get(pk=meeting.pk), (0 * MINUTE, 50 * MINUTE))  # Dana teaches
    opening = Notification.objects.filter(meeting=meeting, kind="class_open", teacher__isnull=False)
    assert list(opening.values_list("teacher__display_name", flat=True)) == ["Dana"]
    settle(closed, now=closed.closed_at)
    payout = Payout.objects.get(meeting=meeting)
    assert payout.teacher == dana and payout.state == "pending"


# --- races on real connections -----------------------------------------------------------------------------------


def race_substitute_with(open_it, now):
    """Charlie's class, due to open now; ``open_it(meeting_id)`` races Dana's substitution. Returns (the substitute's
    outcome or error, the teacher of the class, the teacher told it is open)."""
    meeting = MeetingFactory(
        teacher=TeacherFactory(display_name="Charlie"), start_time=now, end_time=now + dt.timedelta(hours=1)
    )
    dana = TeacherFactory(display_name="Dana")
    _opened, substituted = race(
        lambda: open_it(meeting.pk),
        lambda: lifecycle.substitute_teacher(Meeting.objects.get(pk=meeting.pk), dana, now=now),
    )
    sweeps.open_due_meetings(now)  # the next tick, for a meeting the racing sweep skipped while it was locked
    final = Meeting.objects.select_related("teacher").get(pk=meeting.pk)
    assert final.state == "open"
    told = Notification.objects.get(meeting=meeting, kind="class_open", teacher__isnull=False).teacher
    if isinstance(substituted, IllegalTransition):  # the opening came first: the class stays Charlie's
        assert "is open; only a scheduled meeting" in str(substituted)
        assert not StateChange.objects.filter(meeting=meeting, field="teacher").exists()
    else:
        assert substituted.changed and StateChange.objects.filter(meeting=meeting, field="teacher").count() == 1
    return substituted, final.teacher.display_name, told.display_name


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_substitute_racing_the_opening_sweep_is_the_one_told_or_is_refused(now):
    _substituted, teacher, told = race_substitute_with(lambda _pk: sweeps.open_due_meetings(now), now)
    assert told == teacher


@pytest.mark.django_db
def test_a_substitute_committed_while_a_manual_open_waits_for_the_lock_is_the_one_told(meeting, dana, monkeypatch):
    real_transition = lifecycle.transition

    def substitute_first(*args, **kwargs):  # the interleaving the race produces almost every time on PostgreSQL
        lifecycle.substitute_teacher(Meeting.objects.get(pk=meeting.pk), dana, now=meeting.start_time)
        return real_transition(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "transition", substitute_first)
    lifecycle.open_meeting(meeting, now=meeting.start_time, actor="operator")
    told = Notification.objects.get(meeting=meeting, kind="class_open", teacher__isnull=False).teacher
    assert Meeting.objects.get(pk=meeting.pk).teacher == dana
    assert told == dana


@pytest.mark.django_db
def test_a_substitute_committed_while_a_cancel_waits_for_the_lock_is_the_one_told(meeting, dana, monkeypatch):
    real_transition = lifecycle.transition

    def substitute_first(*args, **kwargs):
        lifecycle.substitute_teacher(Meeting.objects.get(pk=meeting.pk), dana, now=meeting.start_time)
        return real_transition(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "transition", substitute_first)
    lifecycle.cancel_meeting(meeting, now=meeting.start_time, actor="operator", reason="storm")
    told = Notification.objects.get(meeting=meeting, kind="class_cancelled", teacher__isnull=False).teacher
    assert told == dana


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_substitutes_at_once_leave_an_unbroken_history(now):
    meeting = MeetingFactory(
        teacher=TeacherFactory(display_name="Charlie"),
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    dana, erin = TeacherFactory(display_name="Dana"), TeacherFactory(display_name="Erin")
    results = race(
        *[
            lambda t=t: lifecycle.substitute_teacher(Meeting.objects.get(pk=meeting.pk), t, now=now)
            for t in (dana, erin)
        ]
    )
    assert all(r.changed for r in results), results
    chain = teacher_history(meeting)
    assert len(chain) == 2 and chain[0][0].startswith("Charlie") and chain[1][0] == chain[0][1]
    final = Meeting.objects.select_related("teacher").get(pk=meeting.pk).teacher
    assert chain[1][1] == f"{final.display_name} (#{final.pk})"
