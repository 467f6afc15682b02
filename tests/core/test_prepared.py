"""core.rows.prepared_cursor: the hot paths' fixed statements are prepared on PostgreSQL, once per connection, inside
Django's cursor wrapper; ``plannable`` writes a statement's text values in so its generic plan can use the partial
indexes; PREPARED_STATEMENTS=false (a pooler that cannot pass them) prepares nothing (issue 22)."""

import datetime as dt

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings import links
from classroom import policies, tokens
from core import rows
from tests import factories

pytestmark = pytest.mark.django_db


def prepared(containing: str) -> list[tuple]:
    """This connection's prepared statements whose text contains ``containing``: (text, generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE strpos(statement, %s) > 0",
            [containing],
        )
        return cursor.fetchall()


@pytest.fixture
def click(alice, meeting, now):
    return factories.book(alice, meeting, now=now).appointment


@pytest.mark.postgres
def test_the_click_is_prepared_once_and_still_counted_as_a_query(click, django_assert_num_queries):
    assert prepared('FROM "bookings_appointment" a') == []
    with django_assert_num_queries(1):  # in Django's wrapper: logged (and wrapped) as any query
        assert links.clicked(click.pk).meeting_id == click.meeting_id
    for _ in range(6):
        assert links.clicked(click.pk).booking.status == "confirmed"
    (statement, generic, custom), *others = prepared('FROM "bookings_appointment" a')
    assert others == [] and "a.id = $1" in statement  # bound on the server: one statement for every link
    assert generic + custom == 7 and generic >= 1  # one statement for the 7 runs; its generic plan reused


@pytest.mark.postgres
def test_the_query_log_shows_the_statement_with_its_values(click):
    """DEBUG's log, assertNumQueries' report and the profile read connection.queries: the statement as run."""
    with CaptureQueriesContext(connection) as log:
        assert links.clicked(click.pk) is not None
    (query,) = log.captured_queries
    assert query["sql"].startswith('SELECT a."id"') and query["sql"].endswith(f"WHERE a.id = {click.pk}")


@pytest.mark.postgres
def test_a_students_list_is_planned_once_with_its_states_written_in(client, meeting, now):
    policies.clear_cache()
    alice = factories.StudentFactory(user=factories.UserFactory(username="alice"))
    _, token = tokens.issue(alice.user, now=now)
    with time_machine.travel(now, tick=False):
        for _ in range(8):
            assert client.get("/api/v1/meetings/", HTTP_AUTHORIZATION=f"Token {token}").json()["count"] == 1
    (statement, generic, custom), *others = prepared('"meetings_meeting"."state" IN (')
    assert others == []
    # The states are text in the statement, so the plan PostgreSQL reuses can walk meeting_bookable; the student and
    # the time are still bound.
    assert "IN ('scheduled', 'open', 'in_progress')" in statement and '"student_id" = ($' in statement
    assert generic >= 1, (generic, custom)


@pytest.mark.postgres
def test_plannable_writes_in_only_text_and_the_answer_is_the_same():
    sql = "SELECT %s, %s, %s, '100%%', %s LIKE %s"
    params = ["it's 50% off", 7, dt.datetime(2026, 12, 1, 20, tzinfo=dt.UTC), "a%", "a%%"]
    written, bound = rows.plannable(sql, params)
    assert written == "SELECT 'it''s 50%% off', %s, %s, '100%%', 'a%%' LIKE 'a%%%%'"
    assert bound == params[1:3]
    with connection.cursor() as plain:
        plain.execute(sql, params)
        expected = plain.fetchone()
    with rows.prepared_cursor() as cursor:
        cursor.execute(written, bound)
        assert cursor.fetchone() == expected == ("it's 50% off", 7, params[2], "100%", True)


def test_without_prepared_statements_nothing_changes(settings):
    """SQLite, or PREPARED_STATEMENTS off: the statement as it was, with Django's own cursor."""
    settings.PREPARED_STATEMENTS = False
    assert rows.plannable("SELECT %s, '%%'", ["x"]) == ("SELECT %s, '%%'", ["x"])
    with rows.prepared_cursor() as cursor:
        assert not isinstance(cursor.cursor, rows._PreparingCursor)
        cursor.execute("SELECT %s", ["x"])
        assert cursor.fetchone() == ("x",)


@pytest.mark.postgres
def test_switched_off_the_click_prepares_nothing(settings, click):
    settings.PREPARED_STATEMENTS = False
    for _ in range(3):
        assert links.clicked(click.pk) is not None
    assert prepared('FROM "bookings_appointment" a') == []


@pytest.mark.postgres
def test_a_failing_statement_raises_djangos_error():
    with pytest.raises(DatabaseError, match="no_such_table"), rows.prepared_cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table WHERE id = %s", [1])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_real_commits_a_rollback_between_clicks_costs_nothing(alice, teacher, now):
    """In autocommit, as a web worker runs. A rollback makes psycopg forget what it prepared: the next click
    prepares again under a new name instead of failing."""
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=2))
    appointment = factories.book(alice, meeting, now=now).appointment
    assert links.clicked(appointment.pk).meeting_id == meeting.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        assert links.clicked(appointment.pk) is not None
        raise RuntimeError("the request failed")
    assert links.clicked(appointment.pk).meeting_id == meeting.pk
    assert links.clicked(appointment.pk + 1000) is None
