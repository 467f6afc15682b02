"""classroom.policies: versions never edited in place, validation, course overrides, and the operator command
``manage.py policy show | set KEY=VALUE ... --note | history``."""

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from classroom import policies
from classroom.models import Policy
from tests import factories

pytestmark = pytest.mark.django_db

MINUTE = dt.timedelta(minutes=1)


def make(now, note="test", **changes):
    return policies.create_version(changes, note=note, now=now)


def test_a_new_version_starts_from_the_current_one_and_says_what_changed(now):
    first = policies.current(now)
    made = make(now, student_late_join_grace_minutes="15", late_cancel_percent="50")
    assert made.changes == {"student_late_join_grace_minutes": (10, 15), "late_cancel_percent": ("100", "50")}
    rules = policies.current(now)
    assert rules.version == made.policy.pk != first.version
    assert rules.student_late_join_grace_minutes == 15 and rules.late_cancel_percent == Decimal("50")
    assert rules.teacher_early_join_minutes == first.teacher_early_join_minutes  # the rest is carried over


def test_a_version_is_never_edited_in_place(now):
    policy = make(now, payout_dispute_hours="48").policy
    policy.note = "changed my mind"
    with pytest.raises(ValueError, match="never edited in place"):
        policy.save()
    assert Policy.objects.get(pk=policy.pk).note == "test"


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"teacher_early_join_minutes": "-1"}, "teacher_early_join_minutes", "cannot be negative"),
        ({"late_cancel_percent": "100.5"}, "late_cancel_percent", "from 0 to 100"),
        ({"student_absence_share_percent": "-3"}, "student_absence_share_percent", "from 0 to 100"),
        ({"platform_commission_percent": "abc"}, "platform_commission_percent", "not a number"),
        ({"meeting_auto_close_delay_minutes": "1441"}, "meeting_auto_close_delay_minutes", "more than a day"),
        ({"student_late_join_grace_minutes": "61"}, "student_late_join_grace_minutes", "shortest class (60 min)"),
    ],
)
def test_bad_values_are_refused_naming_the_problem(meeting, now, changes, key, message):
    before = Policy.objects.count()
    with pytest.raises(policies.PolicyInvalid) as refused:
        policies.create_version(changes, note="try", now=now)
    assert key in refused.value.errors and message in refused.value.errors[key]
    assert Policy.objects.count() == before


def test_a_note_is_required(now):
    with pytest.raises(policies.PolicyInvalid, match="note is required"):
        policies.create_version({"payout_dispute_hours": 1}, note="  ", now=now)


def test_an_early_entry_overlapping_the_teachers_previous_class_is_a_warning_not_an_error(meeting, teacher, now):
    factories.MeetingFactory(
        teacher=teacher, start_time=meeting.end_time + 5 * MINUTE, end_time=meeting.end_time + 65 * MINUTE
    )
    made = make(now, teacher_early_join_minutes="15")
    assert made.policy.pk == policies.current(now).version
    assert len(made.warnings) == 1 and "1 upcoming class(es)" in made.warnings[0]
    assert not make(now, teacher_early_join_minutes="5").warnings


def test_a_course_override_keeps_its_own_values_when_the_school_changes(meeting, now):
    course = meeting.course
    own = policies.create_version({"student_late_join_grace_minutes": 5}, note="short", now=now, course=course)
    assert own.policy.overrides == ["student_late_join_grace_minutes"]
    assert policies.current(now, course.pk).student_late_join_grace_minutes == 5
    assert policies.current(now).student_late_join_grace_minutes == 10

    school = make(now + MINUTE, payout_dispute_hours="48")
    assert [row.course_id for row in school.course_versions] == [course.pk]
    for_course = policies.current(now + MINUTE, course.pk)
    assert (for_course.student_late_join_grace_minutes, for_course.payout_dispute_hours) == (5, 48)
    assert for_course.version == school.course_versions[0].pk
    assert policies.current(now + MINUTE, factories.CourseFactory().pk).version == school.policy.pk


def test_a_version_cannot_start_in_the_past(now):
    with pytest.raises(policies.PolicyInvalid, match="past"):
        policies.create_version({"payout_dispute_hours": 1}, note="x", now=now, effective_from=now - 2 * MINUTE)


# --- manage.py policy -------------------------------------------------------------------------------------------------


def policy_command(*args):
    out, err = StringIO(), StringIO()
    call_command("policy", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_show_prints_the_current_version_as_json(db):
    shown = json.loads(policy_command("show")[0])
    assert shown["version"] == policies.current(dt.datetime.now(dt.UTC)).version
    assert shown["values"]["student_late_join_grace_minutes"] == 10 and shown["course"] is None
    assert set(shown["values"]) == set(policies.KEYS)


def test_set_makes_a_version_and_prints_the_diff(db):
    out, _ = policy_command("set", "student_late_join_grace_minutes=15", "late_cancel_percent=80", "--note", "rain")
    assert "student_late_join_grace_minutes: 10 -> 15" in out and "late_cancel_percent: 100 -> 80" in out
    newest = Policy.objects.order_by("-id").first()
    assert newest.note == "rain" and newest.author_name.startswith("operator ")
    assert json.loads(policy_command("show")[0])["values"]["student_late_join_grace_minutes"] == 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["teacher_early_join_minutes=-5", "--note", "x"], "cannot be negative"),
        (["late_cancel_percent=101", "--note", "x"], "from 0 to 100"),
        (["no_such_key=1", "--note", "x"], "unknown key"),
        (["student_late_join_grace_minutes", "--note", "x"], "expected KEY=VALUE"),
        (["payout_dispute_hours=2", "--note", "x", "--course", "999"], "no such course"),
    ],
)
def test_set_refuses_bad_values_with_a_non_zero_exit(db, args, message):
    before = Policy.objects.count()
    with pytest.raises(CommandError, match=message):
        policy_command("set", *args)
    assert Policy.objects.count() == before


def test_history_lists_every_version_newest_first_with_what_changed(db):
    policy_command("set", "payout_dispute_hours=48", "--note", "longer disputes")
    lines = policy_command("history")[0].strip().splitlines()
    assert len(lines) == 2
    assert "longer disputes" in lines[0] and "payout_dispute_hours=48" in lines[0]
    assert "first version" in lines[1]
