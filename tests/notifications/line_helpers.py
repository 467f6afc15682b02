"""Building a LINE class for delivery tests: students whose own LINE contact follows a channel, and outbox rows for
them. Each student returned carries ``line_user_id`` (their contact's id) for the assertions."""

from __future__ import annotations

from django.db import transaction

from classroom.models import Student
from integrations.line.models import LineContact
from notifications import outbox
from notifications.models import Notification


def line_user(n: int) -> str:
    return f"U{n:032x}"


def followers(channel, count: int, *, start: int = 0, following: bool = True) -> list[Student]:
    students = Student.objects.bulk_create(
        Student(display_name=f"Follower {n}", time_zone="Asia/Ho_Chi_Minh", language="en")
        for n in range(start, start + count)
    )
    if students[0].pk is None:  # backends that do not return ids from a bulk insert
        students = list(Student.objects.filter(display_name__startswith="Follower ").order_by("-pk")[:count])[::-1]
    LineContact.objects.bulk_create(
        LineContact(
            line_channel=channel,
            line_user_id=line_user(n),
            following=following,
            student=student,
            role=LineContact.Role.STUDENT,
            linked_at=student.created_at,
        )
        for n, student in zip(range(start, start + count), students, strict=True)
    )
    for n, student in zip(range(start, start + count), students, strict=True):
        student.line_user_id = line_user(n)
    return students


def set_line_user(student, line_user_id: str) -> None:
    """Give a helper-made student's contact another LINE user id."""
    LineContact.objects.filter(student=student).update(line_user_id=line_user_id)
    student.line_user_id = line_user_id


def enqueue(kind: str, students, *, now, meeting, url_for=None) -> list[Notification]:
    with transaction.atomic():  # as in a transition (the PostgreSQL COPY path stages rows until commit)
        outbox.enqueue(
            row
            for s in students
            for row in outbox.to_student(kind, s, now=now, meeting=meeting, url=url_for(s) if url_for else None)
        )
    return list(Notification.objects.filter(kind=kind, student__in=students).order_by("pk"))
