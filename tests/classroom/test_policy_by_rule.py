"""policies.by_rule: a condition on each class's own policy version, in SQL. It must pick exactly the classes the
Python rules pick (``Meeting.rules``: the pinned version, or the school's current one for a class not pinned yet),
whether every version agrees (then its SQL names no policy: issue 22's cheaper list) or they differ."""

import datetime as dt

import pytest
from django.db.models import Q

from classroom import policies
from meetings.models import Meeting
from tests import factories

pytestmark = pytest.mark.django_db

GRACE = "student_late_join_grace_minutes"


def joinable(minutes, now):
    return Q(start_time__gt=now - dt.timedelta(minutes=minutes))


def where(condition) -> str:
    return str(Meeting.objects.filter(condition).query).partition("WHERE")[2]


def picked(now) -> set[int]:
    return set(
        Meeting.objects.filter(policies.by_rule(GRACE, lambda m: joinable(m, now), now)).values_list("pk", flat=True)
    )


def expected(now) -> set[int]:
    return {
        m.pk
        for m in Meeting.objects.all()
        if m.start_time
        > now
        - dt.timedelta(minutes=(m.rules if m.policy_id else policies.current(now)).student_late_join_grace_minutes)
    }


@pytest.fixture
def classes(teacher, now):
    """Classes that started 0 to 29 minutes ago, one a minute, half of them not pinned to a version yet."""
    made = [factories.MeetingFactory(teacher=teacher, start_time=now - dt.timedelta(minutes=m)) for m in range(30)]
    Meeting.objects.filter(pk__in=[m.pk for m in made[::2]]).update(policy=None)
    return made


def test_one_version_gives_one_condition_naming_no_policy(classes, now):
    policies.clear_cache()
    condition = policies.by_rule(GRACE, lambda m: joinable(m, now), now)
    assert "policy" not in where(condition)
    assert picked(now) == expected(now) and len(picked(now)) == 10  # started less than 10 minutes ago


def test_versions_that_agree_give_the_same_single_condition(classes, now):
    policies.create_version({"join_link_lead_minutes": 20}, note="earlier links", now=now - dt.timedelta(hours=1))
    Meeting.objects.filter(pk__in=[m.pk for m in classes[1::4]]).update(policy=policies.current(now).version)
    condition = policies.by_rule(GRACE, lambda m: joinable(m, now), now)
    assert "policy" not in where(condition)
    assert picked(now) == expected(now)


def test_versions_that_differ_each_decide_for_their_own_classes(classes, now):
    first = policies.current(now).version
    policies.create_version({GRACE: 20}, note="rainy season", now=now - dt.timedelta(hours=1))
    second = policies.current(now).version
    assert first != second
    # Some pinned to the old version (10 minutes), some to the new (20), the rest not pinned (the current: 20).
    Meeting.objects.filter(pk__in=[m.pk for m in classes[1::4]]).update(policy=first)
    Meeting.objects.filter(pk__in=[m.pk for m in classes[3::4]]).update(policy=second)
    assert "policy" in where(policies.by_rule(GRACE, lambda m: joinable(m, now), now))
    chosen = picked(now)
    assert chosen == expected(now)
    late = {m.pk for m in classes[10:20]}  # 10 to 19 minutes late: in only under the new version
    assert late & chosen == late - {m.pk for m in classes[1::4]}
