"""Building a LINE class for delivery tests: students who follow a channel, and outbox rows for them."""

from __future__ import annotations

from django.db import transaction

from classroom.models import Student
from notifications import outbox
from notifications.models import Notification


def line_user(n: int) -> str:
    return f"U{n:032x}"


def followers(channel, count: int, *, start: int = 0, following: bool = True) -> list[Student]:
    Student.objects.bulk_create(
        Student(
            display_name=f"Follower {n}",
            time_zone="Asia/Ho_Chi_Minh",
            language="en",
            line_channel=channel,
            line_user_id=line_user(n),
            line_following=following,
        )
        for n in range(start, start + count)
    )
    return list(Student.objects.filter(line_channel=channel).order_by("pk"))[start : start + count]


def enqueue(kind: str, students, *, now, meeting, url_for=None) -> list[Notification]:
    with transaction.atomic():  # as in a transition (the PostgreSQL COPY path stages rows until commit)
        outbox.enqueue(
            outbox.message(kind, outbox.for_student(s), now=now, meeting=meeting, url=url_for(s) if url_for else None)
            for s in students
        )
    return list(Notification.objects.filter(kind=kind, student__in=students).order_by("pk"))
