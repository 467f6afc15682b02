"""The demo school for ``make run``: built through the real transitions, so its history reads like real use.

Idempotent: people and courses are found by natural keys; each meeting "slot" is created only when no live meeting
of that slot exists (a slot whose meeting already ran gets a fresh one), so every launch has a class starting
``HEADLINE_START_MINUTES`` later without piling up duplicates on repeated runs.

Its times agree with its history: a meeting, booking or payout says it was created when its first history entry
says it happened (two days before the class for the meetings and bookings), not at the moment seed_demo ran; the
people and courses are older than all of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Subquery

from bookings.models import Booking, Payout
from bookings.transitions import book
from classroom.models import Course, Student, Teacher
from core.models import StateChange
from core.runner import run_sweeps
from core.timezones import to_local
from meetings import lifecycle
from meetings import series as weekly_classes
from meetings.attendance import record_session
from meetings.models import Meeting, MeetingParticipant, Series

STAFF_USERNAME, STAFF_PASSWORD = "admin", "admin"
PEOPLE_PASSWORD = "demo"
# The headline class starts this long after launch: more than JOIN_LINK_LEAD_MINUTES (10), so its join link goes out
# on time (one to two minutes after launch: the start is on a whole minute), not as a catch-up of a missed moment.
HEADLINE_START_MINUTES = 12
HEADLINE_DURATION_MINUTES = 15
# The school, its people and its courses existed this long before the demo's history begins.
SCHOOL_AGE = dt.timedelta(days=30)

TEACHERS = [
    ("emma", "Emma Johnson", "America/New_York", "en"),
    ("an", "Nguyễn Văn An", "Asia/Ho_Chi_Minh", "vi"),
    ("mei", "Lin Mei", "Asia/Taipei", "zh-hant"),
]
STUDENTS = [
    ("alice", "Alice Tran", "Asia/Ho_Chi_Minh", "vi"),
    ("bob", "Bob Chen", "Asia/Taipei", "zh-hant"),
    ("carol", "Carol Smith", "America/New_York", "en"),
    ("dan", "Dan Nguyen", "Asia/Ho_Chi_Minh", "en"),
    ("eve", "Eve Wang", "Asia/Taipei", "en"),
    ("frank", "Frank Müller", "Europe/Berlin", "en"),
]
COURSES = [
    # title, price, currency, capacity, minimum participants
    ("IELTS Practice", "15.00", "USD", 8, 1),
    ("Business English", "25.00", "USD", 6, 2),
    ("Mandarin for Beginners", "450", "TWD", 10, 0),
    ("Vietnamese Conversation", "150000", "VND", 5, 0),
]


@dataclass(frozen=True)
class Slot:
    title: str
    course: str
    teacher: str
    start_minutes: int  # relative to now
    duration_minutes: int
    students: tuple[str, ...]
    # False: the teacher never enters the room, so the class closes into the no-show review queue.
    teacher_comes: bool = True


SLOTS = [
    Slot("IELTS Practice (yesterday)", "IELTS Practice", "emma", -24 * 60, 60, ("alice", "bob", "carol")),
    Slot("Mandarin for Beginners (yesterday)", "Mandarin for Beginners", "mei", -20 * 60, 45, ("bob", "eve")),
    Slot(
        "Vietnamese Conversation (teacher never came)",
        "Vietnamese Conversation",
        "an",
        -6 * 60,
        45,
        ("carol", "dan"),
        teacher_comes=False,
    ),
    Slot("Business English (in progress)", "Business English", "an", -20, 60, ("alice", "dan", "frank")),
    Slot(
        "Demo class: starts 12 minutes after launch",
        "IELTS Practice",
        "emma",
        HEADLINE_START_MINUTES,
        HEADLINE_DURATION_MINUTES,
        ("alice", "bob", "carol"),
    ),
    Slot("Vietnamese Conversation", "Vietnamese Conversation", "an", 60, 60, ("carol", "frank")),
    Slot("Mandarin for Beginners", "Mandarin for Beginners", "mei", 3 * 60, 50, ("alice", "eve", "dan")),
    Slot("Business English (tomorrow)", "Business English", "emma", 24 * 60, 60, ("bob", "frank")),
]


def _user(username: str, password: str, joined: dt.datetime, **fields):
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"date_joined": joined, **fields}
    )
    if created:
        user.set_password(password)
        user.save()
    return user


def _created(model, joined: dt.datetime, **lookup):
    """get_or_create, with a new row's ``created_at`` set to ``joined`` (auto_now_add would say today)."""
    row, created = model.objects.get_or_create(**lookup)
    if created:
        model.objects.filter(pk=row.pk).update(created_at=joined)
    return row


def _logins_of(model, rows, joined: dt.datetime) -> dict:
    """A login and a ``model`` (Teacher or Student) record for each (username, name, zone, language) row."""
    made = {}
    for username, name, zone, language in rows:
        user = _user(username, PEOPLE_PASSWORD, joined, email=f"{username}@example.com")
        made[username] = _created(
            model,
            joined,
            user=user,
            defaults={"display_name": name, "time_zone": zone, "language": language, "email": user.email},
        )
    return made


def _people(joined: dt.datetime):
    _user(STAFF_USERNAME, STAFF_PASSWORD, joined, is_staff=True, is_superuser=True, email="admin@example.com")
    teachers = _logins_of(Teacher, TEACHERS, joined)
    students = _logins_of(Student, STUDENTS, joined)
    courses = {}
    for title, price, currency, capacity, minimum in COURSES:
        courses[title] = _created(
            Course,
            joined,
            title=title,
            defaults={"price": Decimal(price), "currency": currency, "capacity": capacity, "min_participants": minimum},
        )
    return teachers, students, courses


def _date_back_to_history(model, pks: list[int]) -> None:
    """``created_at`` of these rows := the moment of their first history entry (the ``now`` the demo played)."""
    history = StateChange.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id=OuterRef("pk")
    )
    first = history.values("object_id").annotate(first=Min("at")).values("first")
    model.objects.filter(Exists(history), pk__in=pks).update(created_at=Subquery(first))


def _play_past(meeting: Meeting, start: dt.datetime, end: dt.datetime, *, teacher_comes: bool = True) -> None:
    """Run a past (or already started) class through the lifecycle at the moments it would have happened."""
    run_sweeps(start - dt.timedelta(minutes=60), runner="seed_demo", record=False)  # min-participants check, room
    run_sweeps(start - dt.timedelta(minutes=10), runner="seed_demo", record=False)  # join links
    run_sweeps(start, runner="seed_demo", record=False)  # open
    if not teacher_comes:
        return
    teacher = meeting.teacher
    record_session(
        meeting,
        source=MeetingParticipant.Source.LOCAL,
        session_key=f"demo-teacher-{meeting.pk}",
        identity=f"teacher:{teacher.pk}",
        role="teacher",
        display_name=teacher.display_name,
        teacher=teacher,
        joined_at=start + dt.timedelta(minutes=1),
        left_at=None if end > start + dt.timedelta(hours=2) else end,
    )
    meeting.refresh_from_db()
    lifecycle.mark_in_progress(meeting, now=start + dt.timedelta(minutes=1))


@transaction.atomic
def seed(now: dt.datetime) -> list[str]:
    """Create what is missing; return one line per thing created."""
    now = now.replace(second=0, microsecond=0)
    earliest = min(now, now + dt.timedelta(minutes=min(slot.start_minutes for slot in SLOTS))) - dt.timedelta(days=2)
    teachers, students, courses = _people(earliest - SCHOOL_AGE)
    created, meetings = [], []
    live = [Meeting.State.SCHEDULED, Meeting.State.OPEN, Meeting.State.IN_PROGRESS]
    for slot in SLOTS:
        start = now + dt.timedelta(minutes=slot.start_minutes)
        end = start + dt.timedelta(minutes=slot.duration_minutes)
        existing = Meeting.objects.filter(title=slot.title)
        if existing.filter(state__in=live).exists() or (slot.start_minutes < -60 and existing.exists()):
            continue
        scheduled_at = min(now, start) - dt.timedelta(days=2)
        meeting = lifecycle.schedule_meeting(
            teacher=teachers[slot.teacher],
            course=courses[slot.course],
            title=slot.title,
            start_time=start,
            end_time=end,
            now=scheduled_at,
        )
        for username in slot.students:
            book(students[username], meeting, now=scheduled_at + dt.timedelta(hours=1))
        if start <= now:
            _play_past(meeting, start, end, teacher_comes=slot.teacher_comes)
            if end + dt.timedelta(minutes=10) <= now:
                run_sweeps(end - dt.timedelta(minutes=10), runner="seed_demo", record=False)  # feedback links
                run_sweeps(end + dt.timedelta(minutes=5), runner="seed_demo", record=False)  # close, settle
        meetings.append(meeting.pk)
        created.append(f"meeting {meeting.pk}: {slot.title} at {start:%Y-%m-%d %H:%M} UTC")
    _date_back_to_history(Meeting, meetings)
    _date_back_to_history(Booking, list(Booking.objects.filter(meeting__in=meetings).values_list("pk", flat=True)))
    _date_back_to_history(Payout, list(Payout.objects.filter(meeting__in=meetings).values_list("pk", flat=True)))
    created += _weekly_class(now, teachers, students, courses)
    return created


# A weekly class in New York at 02:30 with students in Taipei: the time a clock change shifts (see README, "Weekly
# classes"). Sundays, from the first one at least three days ahead (clear of the slots above).
WEEKLY_TITLE, WEEKLY_STUDENTS = "Weekly IELTS Speaking", ("bob", "eve")


def _weekly_class(now: dt.datetime, teachers, students, courses) -> list[str]:
    if Series.objects.filter(title=WEEKLY_TITLE).exists():
        return []
    emma = teachers["emma"]
    day = to_local(now, emma.time_zone).date() + dt.timedelta(days=3)
    day += dt.timedelta(days=(6 - day.weekday()) % 7)
    series = weekly_classes.create_series(
        teacher=emma,
        course=courses["IELTS Practice"],
        title=WEEKLY_TITLE,
        local_start=f"{day:%Y-%m-%d}T02:30",
        time_zone=emma.time_zone,
        duration_minutes=45,
        rrule="FREQ=WEEKLY;BYDAY=SU",
        now=now,
    )
    for username in WEEKLY_STUDENTS:
        weekly_classes.subscribe(series, students[username], now=now)
    return [f"series {series.pk}: {WEEKLY_TITLE}, Sundays 02:30 {emma.time_zone}"]


def summary() -> dict:
    return {
        "teachers": Teacher.objects.count(),
        "students": Student.objects.count(),
        "courses": Course.objects.count(),
        "meetings": Meeting.objects.count(),
        "bookings": Booking.objects.count(),
        "awaiting review": Meeting.objects.filter(requires_manual_review=True).count(),
    }
