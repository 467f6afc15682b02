"""Who hears about a student's class: every linked, following contact of theirs (their own, and guardians who opted
in to that kind, the join link by default), e-mail when they have no reachable LINE of their own, and one row
skipped "no contact" when nobody at all can be told."""

import datetime as dt

import pytest

from integrations.line.models import LineContact
from notifications import outbox
from tests.factories import StudentFactory

T0 = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def live(settings):
    settings.NOTIFICATION_CHANNEL = "live"


def linked(channel, student, user_id, role, **fields) -> LineContact:
    return LineContact.objects.create(
        line_channel=channel, line_user_id=user_id, student=student, role=role, linked_at=T0, **fields
    )


def routes(student, kind):
    return sorted((r.role, r.channel, r.address) for r in outbox.for_student(student, kind))


def test_the_student_and_a_guardian_get_the_join_link_the_guardian_not_the_rest_by_default(db, line_channel):
    an = StudentFactory(display_name="An", email="an@example.com")
    linked(line_channel, an, "U1", "student")
    linked(line_channel, an, "U2", "guardian")
    assert routes(an, "join_link") == [("guardian", "line", "U2"), ("student", "line", "U1")]
    assert routes(an, "feedback_link") == [("student", "line", "U1")]


def test_a_guardian_who_opted_in_gets_the_kind_and_the_message_names_the_student(db, line_channel, meeting):
    an = StudentFactory(display_name="An", email="", language="vi")
    linked(line_channel, an, "U2", "guardian", guardian_kinds=["join_link", "class_cancelled"])
    rows = outbox.to_student("class_cancelled", an, now=T0, meeting=meeting, context={"reason": "teacher ill"})
    [row] = rows  # no own LINE, no e-mail: only the guardian, no "no contact" row beside them
    assert row.address == "U2" and row.dedupe_key == f"class_cancelled:{meeting.pk}:line:" + str(
        LineContact.objects.get().pk
    )
    assert row.payload["text"].startswith("Lớp 'IELTS Practice' của con bạn, An,")


def test_unfollowed_unlinked_and_no_contact(db, line_channel, meeting):
    an = StudentFactory(display_name="An", email="an@example.com")
    linked(line_channel, an, "U1", "student", following=False)
    assert routes(an, "join_link") == [("student", "email", "an@example.com")]  # unreachable LINE: e-mail
    LineContact.objects.create(line_channel=line_channel, line_user_id="U9")  # a follower linked to nobody
    nobody = StudentFactory(display_name="Bao", email="")
    [row] = outbox.to_student("join_link", nobody, now=T0, meeting=meeting, url="https://x/j/1/")
    assert (row.channel, row.state, row.last_error) == ("none", "skipped", "no contact")


def test_a_burst_reads_every_students_contacts_in_two_queries(db, line_channel, django_assert_num_queries):
    students = [StudentFactory() for _ in range(5)]
    for n, student in enumerate(students):
        linked(line_channel, student, f"U{n}", "student")
    with django_assert_num_queries(2):
        reached = outbox.reach(students)
    assert [reached[s.pk].line[0].line_user_id for s in students] == [f"U{n}" for n in range(5)]
