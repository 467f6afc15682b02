"""Fast data for the benchmarks: PostgreSQL COPY straight into the tables, filling every column the benchmark does
not vary with the model field's default (so new fields need no change here)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import Iterable
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, models

from bookings.models import Appointment, Booking
from classroom.models import Course, Student, Teacher
from meetings.models import Meeting, MeetingParticipant
from notifications.models import Notification


class Copier:
    """COPY rows of ``model``: ``write(**values)`` with the varying columns only."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.template = [self._default(f) for f in self.fields]
        self.index = {f.attname: i for i, f in enumerate(self.fields)}

    @staticmethod
    def _default(field):
        if field.primary_key:
            return None
        value = field.get_default()
        if isinstance(field, models.JSONField):
            return json.dumps(value)
        return value

    def copy(self, rows: Iterable[dict]) -> int:
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        count = 0
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg 3 cursor
            with raw.copy(f"COPY {self.model._meta.db_table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    values = list(self.template)
                    for key, value in row.items():
                        values[self.index[key]] = json.dumps(value) if isinstance(value, dict | list) else value
                    copy.write_row(values)
                    count += 1
        return count


def next_id(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {model._meta.db_table}")
        return cursor.fetchone()[0]


def fix_sequences(*models_) -> None:
    with connection.cursor() as cursor:
        for model in models_:
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")
            cursor.execute(f"ANALYZE {table}")


class School:
    """A handful of teachers and courses and a pool of students the generated meetings use."""

    def __init__(self, students: int = 10_000, prefix: str = "bench"):
        User = get_user_model()
        self.teachers = []
        for n in range(20):
            user = User.objects.create(username=f"{prefix}-teacher-{n}")
            zone = ("America/New_York", "Asia/Ho_Chi_Minh", "Asia/Taipei")[n % 3]
            self.teachers.append(
                Teacher.objects.create(
                    user=user, display_name=f"Teacher {n}", time_zone=zone, email=f"t{n}@example.com"
                )
            )
        self.course = Course.objects.create(
            title="Benchmark Course", price=Decimal("12.50"), currency="USD", capacity=12, min_participants=0
        )
        first = next_id(Student)
        zones = ("Asia/Ho_Chi_Minh", "Asia/Taipei", "America/New_York")
        Copier(Student).copy(
            {
                "id": first + i,
                "display_name": f"Student {i}",
                "email": f"s{i}@example.com",
                "time_zone": zones[i % 3],
                "created_at": dt.datetime.now(dt.UTC),
            }
            for i in range(students)
        )
        fix_sequences(Student)
        self.student_ids = list(range(first, first + students))


def background_meetings(school: School, count: int, now: dt.datetime, seed: int = 1) -> int:
    """``count`` meetings that are not due: half closed in the past 60 days, half scheduled over the next 60."""
    rng = random.Random(seed)
    first = next_id(Meeting)
    day = 24 * 3600

    def rows():
        for i in range(count):
            past = i % 2 == 0
            offset = rng.randint(3600, 60 * day)
            start = now - dt.timedelta(seconds=offset) if past else now + dt.timedelta(seconds=offset)
            end = start + dt.timedelta(hours=1)
            row = {
                "id": first + i,
                "teacher_id": school.teachers[i % 20].pk,
                "course_id": school.course.pk,
                "title": "Background class",
                "start_time": start,
                "end_time": end,
                "capacity": 12,
                "state": "closed" if past else "scheduled",
                "created_at": now,
                "updated_at": now,
            }
            if past:
                row.update(
                    opened_at=start,
                    closed_at=end,
                    auto_opened=True,
                    auto_closed=True,
                    settled_at=end,
                    min_participants_checked_at=start,
                    room_provisioned_at=start,
                    room_ended_at=end,
                    room_provider="local",
                    attendance_verdict="present",
                )
            yield row

    Copier(Meeting).copy(rows())
    fix_sequences(Meeting)
    return count


def burst(
    school: School,
    *,
    starts: list[dt.datetime],
    students_each: int = 10,
    duration: dt.timedelta = dt.timedelta(minutes=50),
    now: dt.datetime,
    offset: int = 0,
) -> list[int]:
    """One scheduled meeting per entry of ``starts`` (a burst: the same moment repeated), each with
    ``students_each`` confirmed bookings and their appointments. Returns the meeting ids."""
    first_meeting, first_booking = next_id(Meeting), next_id(Booking)
    first_appointment = next_id(Appointment)
    ids = list(range(first_meeting, first_meeting + len(starts)))
    Copier(Meeting).copy(
        {
            "id": mid,
            "teacher_id": school.teachers[n % 20].pk,
            "course_id": school.course.pk,
            "title": f"Burst class {n}",
            "start_time": start,
            "end_time": start + duration,
            "capacity": 12,
            "seats_taken": students_each,
            "state": "scheduled",
            "min_participants_checked_at": now,
            "room_provider": "local",
            "room_name": f"bench-{mid}",
            "room_provisioned_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for n, (mid, start) in enumerate(zip(ids, starts, strict=True))
    )
    pool = school.student_ids
    bookings = []
    for n, (mid, start) in enumerate(zip(ids, starts, strict=True)):
        for k in range(students_each):
            student = pool[(offset + n * students_each + k) % len(pool)]
            bookings.append((first_booking + len(bookings), mid, student, start))
    Copier(Booking).copy(
        {
            "id": bid,
            "meeting_id": mid,
            "student_id": sid,
            "status": "confirmed",
            "amount": Decimal("12.50"),
            "currency": "USD",
            "created_at": now,
            "confirmed_at": now,
        }
        for bid, mid, sid, _ in bookings
    )
    Copier(Appointment).copy(
        {
            "id": first_appointment + i,
            "booking_id": bid,
            "meeting_id": mid,
            "student_id": sid,
            "join_link_state": "sent",
            "join_link_due_at": start - dt.timedelta(minutes=10),
            "join_link_at": now,
            "feedback_link_due_at": start + duration - dt.timedelta(minutes=10),
        }
        for i, (bid, mid, sid, start) in enumerate(bookings)
    )
    fix_sequences(Meeting, Booking, Appointment)
    return ids


def teacher_sessions(meeting_ids: list[int], *, joined: dt.datetime, left: dt.datetime) -> None:
    """The teacher of each meeting was in the room from ``joined`` to ``left`` (attendance evidence for B3)."""
    teachers = dict(Meeting.objects.filter(pk__in=meeting_ids).values_list("pk", "teacher_id"))
    first = next_id(MeetingParticipant)
    Copier(MeetingParticipant).copy(
        {
            "id": first + i,
            "meeting_id": mid,
            "role": "teacher",
            "teacher_id": teachers[mid],
            "identity": f"teacher:{teachers[mid]}",
            "joined_at": joined,
            "left_at": left,
            "source": "local",
            "session_key": f"bench-{mid}",
            "created_at": joined,
        }
        for i, mid in enumerate(meeting_ids)
    )
    fix_sequences(MeetingParticipant)


def line_messages(school: School, meeting_ids: list[int], *, per_message: int, channel_id: int, now) -> int:
    """For each meeting, the same pending LINE message to ``per_message`` students of the pool (each row its own
    retry key, as the outbox writes them)."""
    first = next_id(Notification)
    pool = school.student_ids

    def rows():
        n = 0
        for m, mid in enumerate(meeting_ids):
            payload = {"text": f"Your class {mid} is open now."}
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
            for k in range(per_message):
                student = pool[(m * per_message + k) % len(pool)]
                yield {
                    "id": first + n,
                    "dedupe_key": f"class_open:{mid}:student:{student}",
                    "kind": "class_open",
                    "channel": "line",
                    "meeting_id": mid,
                    "student_id": student,
                    "address": f"U{student:032x}",
                    "line_channel_id": channel_id,
                    "payload": payload,
                    "payload_hash": digest,
                    "next_attempt_at": now,
                    "retry_key": uuid.uuid4(),
                    "created_at": now,
                }
                n += 1

    count = Copier(Notification).copy(rows())
    fix_sequences(Notification)
    return count
