"""core.statements: conditions with slots compile once per shape, and each run binds its own values."""

import datetime as dt

import pytest
from django.db import connection, models
from django.db.models import Q

from core import statements
from core.statements import Slot, compiled
from meetings.models import Meeting
from tests import factories

pytestmark = pytest.mark.django_db

NOW = Slot("now", models.DateTimeField())
TEACHER = Slot("teacher", models.BigIntegerField())


@pytest.fixture(autouse=True)
def _empty(monkeypatch):
    """No statement compiled yet, and each found one not compiled again (the suite's check): these tests count."""
    monkeypatch.setattr(statements, "CHECKED", False)
    statements.clear()
    yield
    statements.clear()


def ids(statement, values) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.bind(values))
        return [pk for (pk,) in cursor.fetchall()]


def compile_of(condition: Q, made: list):
    def compile_sql():
        made.append(condition)
        return Meeting.objects.filter(condition).order_by("id").values("pk").query.sql_with_params()

    return compile_sql


def test_equal_conditions_compile_once_and_each_run_binds_its_values(teacher, now):
    other = factories.TeacherFactory()
    early = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(minutes=10))
    late = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=3))
    theirs = factories.MeetingFactory(teacher=other, start_time=now + dt.timedelta(hours=3))
    made = []
    runs = []
    for teacher_id, at in [(teacher.pk, now), (teacher.pk, now + dt.timedelta(hours=1)), (other.pk, now)]:
        # A new condition each time, as each request builds its own: equal, so one statement.
        condition = Q(teacher=TEACHER) & Q(start_time__gt=NOW - dt.timedelta(minutes=30))
        statement = compiled(("meetings", condition), compile_of(condition, made))
        runs.append(ids(statement, {"teacher": teacher_id, "now": at}))
    assert len(made) == 1
    # now - 30 minutes: both of Charlie's classes; an hour later, the early one has started 50 minutes ago.
    assert runs == [[early.pk, late.pk], [late.pk], [theirs.pk]]


def test_a_different_constant_is_a_different_statement(teacher, now):
    made = []
    for minutes in (30, 30, 5):
        condition = Q(start_time__gt=NOW - dt.timedelta(minutes=minutes))
        compiled(("meetings", condition), compile_of(condition, made))
    assert made == [
        Q(start_time__gt=NOW - dt.timedelta(minutes=30)),
        Q(start_time__gt=NOW - dt.timedelta(minutes=5)),
    ]


def test_a_slot_binds_as_its_field_would_a_value(now):
    """A time as the database takes it (SQLite: text in UTC), an offset added first."""
    slot = Slot("now", models.DateTimeField()) - dt.timedelta(minutes=15) - dt.timedelta(seconds=1)
    assert slot.offset == dt.timedelta(minutes=-15, seconds=-1)
    expected = models.DateTimeField().get_db_prep_value(now - dt.timedelta(minutes=15, seconds=1), connection)
    assert slot.value({"now": now}) == expected
    assert Slot("now", models.DateTimeField()) == Slot("now", models.DateTimeField())
    assert Slot("now", models.DateTimeField()) != Slot("now", models.DateTimeField(), dt.timedelta(minutes=1))


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(statements, "MAX_SHAPES", 3)
    made = []
    for n in range(5):
        compiled(("n", n), lambda n=n: made.append(n) or (f"SELECT {n}", []))
    assert len(statements._compiled) == 3
    compiled(("n", 4), lambda: made.append("again") or ("SELECT 4", []))
    compiled(("n", 0), lambda: made.append("again") or ("SELECT 0", []))
    assert made == [0, 1, 2, 3, 4, "again"]  # the oldest were forgotten, the newest kept


def test_checked_a_shape_that_now_compiles_to_another_statement_fails(monkeypatch):
    """The tests' check (statements.CHECKED, on for the rest of the suite): a shape that leaves out what decides the
    SQL."""
    monkeypatch.setattr(statements, "CHECKED", True)
    compiled(("n", 1), lambda: ("SELECT 1", []))
    assert compiled(("n", 1), lambda: ("SELECT 1", [])).sql == "SELECT 1"
    with pytest.raises(statements.ShapeMismatch, match="SELECT 2"):
        compiled(("n", 1), lambda: ("SELECT 2", []))
