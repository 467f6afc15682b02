"""The join gate and the sweeps read the windows from the policy at run time (classroom.policies): a new version
applies to classes that have not opened, without a restart; a class that has opened keeps the version it opened with."""

import datetime as dt

import pytest

from bookings.models import Appointment
from classroom import policies
from core.models import StateChange
from core.runner import run_sweeps
from meetings.access import JoinRefused, check_join, identity_of
from meetings.models import Meeting
from tests import factories

pytestmark = pytest.mark.django_db

MINUTE = dt.timedelta(minutes=1)


def grace(minutes, *, now, note="longer grace for the rainy season"):
    return policies.create_version({"student_late_join_grace_minutes": minutes}, note=note, now=now).policy


def first_entry(meeting, student, at):
    meeting.refresh_from_db()
    return check_join(meeting, "student", at, tz_name=student.time_zone, identity=identity_of(student))


def test_raising_the_grace_from_10_to_15_lets_a_student_in_at_start_plus_12_without_a_restart(meeting, alice, now):
    factories.book(alice, meeting, now=now)
    assert meeting.rules.student_late_join_grace_minutes == 10
    with pytest.raises(JoinRefused, match="late-join grace"):
        first_entry(meeting, alice, meeting.start_time + 12 * MINUTE)

    v2 = grace(15, now=now)
    # The gate already follows it for a class that has not opened (same process, no restart, no sweep yet) ...
    assert first_entry(meeting, alice, meeting.start_time + 12 * MINUTE).first_entry_until == (
        meeting.start_time + 15 * MINUTE
    )
    # ... and the sweeps re-pin the class, then open it under the new version.
    run_sweeps(now, names=["repin_policies"])
    assert Meeting.objects.get(pk=meeting.pk).policy_id == v2.pk
    run_sweeps(meeting.start_time, names=["repin_policies", "open_due_meetings"])
    assert Meeting.objects.values_list("state", "policy_id").get(pk=meeting.pk) == ("open", v2.pk)
    window = first_entry(meeting, alice, meeting.start_time + 12 * MINUTE)
    assert window.first_entry_until == meeting.start_time + 15 * MINUTE
    with pytest.raises(JoinRefused, match="late-join grace"):
        first_entry(meeting, alice, meeting.start_time + 15 * MINUTE)


def test_a_class_that_already_opened_keeps_the_old_grace(meeting, alice, bob, now):
    factories.book(alice, meeting, now=now)
    v1 = meeting.policy_id
    run_sweeps(meeting.start_time, names=["repin_policies", "open_due_meetings"])
    later = factories.MeetingFactory(
        teacher=meeting.teacher, start_time=meeting.end_time + 60 * MINUTE, end_time=meeting.end_time + 120 * MINUTE
    )
    factories.book(bob, later, now=now)

    v2 = grace(15, now=meeting.start_time + 5 * MINUTE)
    run_sweeps(meeting.start_time + 5 * MINUTE, names=["repin_policies"])

    assert Meeting.objects.get(pk=meeting.pk).policy_id == v1  # opened: keeps its version
    with pytest.raises(JoinRefused, match="late-join grace"):
        first_entry(meeting, alice, meeting.start_time + 12 * MINUTE)
    assert Meeting.objects.get(pk=later.pk).policy_id == v2.pk  # not opened yet: follows the new one
    assert first_entry(later, bob, later.start_time + 12 * MINUTE)


def test_re_pinning_says_so_in_the_class_history_and_twice_is_a_no_op(meeting, now):
    v1 = meeting.policy_id
    v2 = grace(15, now=now)
    assert run_sweeps(now, names=["repin_policies"])["repin_policies"] == {"repinned": 1}
    assert not run_sweeps(now, names=["repin_policies"])["repin_policies"]
    row = StateChange.objects.get(meeting_id=meeting.pk, field="policy")
    assert (row.from_state, row.to_state) == (f"v{v1}", f"v{v2.pk}")
    assert "took effect before the class opened" in row.reason


def test_a_version_dated_later_applies_from_its_date(meeting, now):
    v1 = meeting.policy_id
    takes_effect = now + 30 * MINUTE
    v2 = policies.create_version(
        {"student_late_join_grace_minutes": 15}, note="from half past", now=now, effective_from=takes_effect
    ).policy
    assert run_sweeps(now, names=["repin_policies"])["repin_policies"] == {}
    assert Meeting.objects.get(pk=meeting.pk).policy_id == v1
    assert run_sweeps(takes_effect, names=["repin_policies"])["repin_policies"] == {"repinned": 1}
    assert Meeting.objects.get(pk=meeting.pk).policy_id == v2.pk


def test_the_close_sweep_uses_each_class_s_own_close_delay(meeting, teacher, now):
    run_sweeps(meeting.start_time, names=["open_due_meetings"])  # opened under v1: closes 5 min after the end
    policies.create_version({"meeting_auto_close_delay_minutes": 0}, note="close at the end", now=now)
    other = factories.MeetingFactory(teacher=teacher, start_time=meeting.start_time, end_time=meeting.end_time)
    run_sweeps(meeting.start_time, names=["repin_policies", "open_due_meetings"])
    run_sweeps(meeting.end_time, names=["close_due_meetings"])
    states = dict(Meeting.objects.filter(pk__in=[meeting.pk, other.pk]).values_list("pk", "state"))
    assert states == {meeting.pk: "open", other.pk: "closed"}
    run_sweeps(meeting.end_time + 5 * MINUTE, names=["close_due_meetings"])
    assert Meeting.objects.get(pk=meeting.pk).state == "closed"


def test_a_new_join_link_lead_time_moves_the_links_not_sent_yet(meeting, alice, now):
    factories.book(alice, meeting, now=now)
    appointment = Appointment.objects.get(booking__student=alice)
    assert appointment.join_link_due_at == meeting.start_time - 10 * MINUTE
    policies.create_version({"join_link_lead_minutes": 30, "feedback_link_lead_minutes": 5}, note="earlier", now=now)
    run_sweeps(now, names=["repin_policies"])
    appointment.refresh_from_db()
    assert appointment.join_link_due_at == meeting.start_time - 30 * MINUTE
    assert appointment.feedback_link_due_at == meeting.end_time - 5 * MINUTE


def test_the_close_history_names_the_delay_of_the_classes_own_version(meeting, now):
    """A class pinned to a version with a 7-minute close delay closes 7 minutes after its end, and its history says
    so: not the environment's default of 5 (which the wording once read)."""
    policies.create_version({"meeting_auto_close_delay_minutes": 7}, note="longer goodbyes", now=now)
    run_sweeps(meeting.start_time, names=["repin_policies", "open_due_meetings"])
    run_sweeps(meeting.end_time + 6 * MINUTE, names=["close_due_meetings"])
    assert Meeting.objects.get(pk=meeting.pk).state == "open"
    run_sweeps(meeting.end_time + 7 * MINUTE, names=["close_due_meetings"])
    closed = StateChange.objects.get(object_id=meeting.pk, to_state="closed")
    assert closed.reason == "closed 7 minutes after the end"
