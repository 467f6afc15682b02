"""core.rows.Columns: a hand-written statement's rows become the instances the ORM would have made."""

import datetime as dt

import pytest
from django.db import connection

from classroom.models import Student, Teacher
from core.rows import Columns, split
from meetings.models import Meeting
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_row_becomes_the_orms_instance_with_the_rest_deferred(teacher, now, django_assert_num_queries):
    made = factories.MeetingFactory(teacher=teacher, title="Grammar", start_time=now + dt.timedelta(hours=3))
    columns = Columns(Meeting, {"title", "id", "start_time"})
    assert columns.names == ("id", "title", "start_time") and columns.width == 3  # the model's order
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 7, {columns.sql('m')} FROM meetings_meeting m WHERE m.id = %s", [made.pk])
        row = cursor.fetchone()
    read = columns.instance(row, start=1)
    orm = Meeting.objects.only("id", "title", "start_time").get(pk=made.pk)
    assert (read.pk, read.title, read.start_time) == (orm.pk, orm.title, orm.start_time)
    assert read.start_time == made.start_time and read.start_time.tzinfo is not None  # SQLite's text converted
    assert read.get_deferred_fields() == orm.get_deferred_fields() and "end_time" in read.get_deferred_fields()
    assert not read._state.adding and read._state.db == "default"
    # every attribute the ORM's instance has, and no other (Model.from_db given every field, the unread ones DEFERRED)
    assert {**vars(read), "_state": None} == {**vars(orm), "_state": None}
    with django_assert_num_queries(1):  # a column not read costs a query of its own
        assert read.end_time == made.end_time


def test_a_column_the_model_does_not_have_is_refused():
    with pytest.raises(ValueError, match="Meeting has no column colour, teacher"):
        Columns(Meeting, {"id", "colour", "teacher"})  # "teacher" is the relation; its column is teacher_id


def test_without_its_id_a_record_cannot_be_told_missing():
    with pytest.raises(ValueError, match="Meeting: read its id too"):
        Columns(Meeting, {"title"})


def test_a_record_a_left_join_did_not_find_is_none_and_the_rest_follows(teacher):
    people = [Columns(Teacher, {"id", "display_name"}), Columns(Student, {"id", "display_name"})]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {people[0].sql('t')}, {people[1].sql('s')}, 42 FROM classroom_teacher t "
            "LEFT JOIN classroom_student s ON s.user_id = t.user_id WHERE t.id = %s",
            [teacher.pk],
        )
        (found, missing), rest = split(cursor.fetchone(), people)
    assert (found.pk, found.display_name, missing, rest) == (teacher.pk, "Charlie", None, (42,))


def test_rows_of_one_read_share_the_records_they_have_in_common(teacher, now):
    """As prefetch_related shares them: a page's classes share their teachers, each made once."""
    other = factories.TeacherFactory(display_name="Dana")
    for who, hours in ((teacher, 1), (other, 2), (teacher, 3)):
        factories.MeetingFactory(teacher=who, start_time=now + dt.timedelta(hours=hours))
    columns = [Columns(Meeting, {"id", "title"}), Columns(Teacher, {"id", "display_name"})]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns[0].sql('m')}, {columns[1].sql('t')} FROM meetings_meeting m "
            "JOIN classroom_teacher t ON t.id = m.teacher_id ORDER BY m.start_time"
        )
        read = cursor.fetchall()
    made = {}
    (first, a), (second, b), (third, c) = (split(row, columns, made)[0] for row in read)
    assert a is c and a is not b and (a.display_name, b.display_name) == ("Charlie", "Dana")
    assert len({first.pk, second.pk, third.pk}) == 3  # each class its own
    assert split(read[0], columns)[0][1] is not a  # without ``made``: a new instance each time
