"""Reliability scenarios: racing workers, crashes, outside failures, a database restart, clock jumps.

Each scenario builds its meetings, runs the system against them the way production would (real processes where the
scenario is about processes), and audits the database afterwards: every transition applied exactly once, nothing
half-applied, nothing sent twice. ``make reliability`` runs them big on PostgreSQL (``tests/reliability/run.py``);
``tests/reliability/test_scenarios.py`` runs small versions of each inside ``make test``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count

from bookings.models import Appointment, Booking
from core.models import StateChange
from meetings.models import Meeting
from notifications.models import Notification
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book


@dataclass
class Tally:
    scenario: str
    meetings: int
    expected: int
    applied: int
    duplicates: int
    lost: int
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.duplicates == 0 and self.lost == 0 and self.applied == self.expected

    def line(self) -> str:
        extra = "".join(f", {key} {value}" for key, value in self.details.items())
        return (
            f"{self.scenario}: meetings {self.meetings}, transitions expected {self.expected} applied "
            f"{self.applied}, duplicates {self.duplicates}, lost {self.lost}{extra}"
        )


REPORT: list[str] = []  # the tally lines of this run, printed at the end (tests/reliability/conftest.py)


def report(tally: Tally, **details) -> Tally:
    tally.details.update(details)
    REPORT.append(tally.line())
    return tally


def build(
    count: int,
    *,
    first_start: dt.datetime,
    spread_seconds: float,
    length: dt.timedelta,
    students_each: int = 3,
    seed: int = 7,
    students: list | None = None,
) -> list[int]:
    """``count`` meetings starting at random moments in [first_start, first_start + spread], each with
    ``students_each`` confirmed bookings made a day before (by ``students``, or by new ones)."""
    rng = random.Random(seed)
    teachers = [TeacherFactory() for _ in range(max(1, count // 50))]
    students = students or [StudentFactory() for _ in range(students_each * 4)]
    course = CourseFactory(capacity=max(students_each, 1) + 2)
    ids = []
    for n in range(count):
        start = first_start + dt.timedelta(seconds=rng.uniform(0, spread_seconds))
        meeting = MeetingFactory(
            teacher=teachers[n % len(teachers)], course=course, start_time=start, end_time=start + length
        )
        for student in rng.sample(students, students_each):
            book(student, meeting, now=start - dt.timedelta(days=1))
        ids.append(meeting.pk)
    return ids


def audit(name: str, meeting_ids: list[int], *, closed_expected: bool = True) -> Tally:
    """Count what happened to ``meeting_ids``: each should have opened once and (if its close moment passed)
    closed once; everything each transition writes must be there exactly once."""
    rows = Counter(
        StateChange.objects.filter(
            meeting_id__in=meeting_ids, content_type__model="meeting", field="state", to_state__in=["open", "closed"]
        ).values_list("object_id", "to_state")
    )
    wanted = {"open", "closed"} if closed_expected else {"open"}
    expected = len(meeting_ids) * len(wanted)
    applied = sum(1 for (_, to), n in rows.items() if to in wanted)
    duplicates = sum(n - 1 for n in rows.values())
    states = Counter(Meeting.objects.filter(pk__in=meeting_ids).values_list("state", flat=True))
    final = {"closed"} if closed_expected else {"open", "in_progress"}
    lost = sum(n for state, n in states.items() if state not in final)
    half = half_applied(meeting_ids)
    return Tally(
        name,
        len(meeting_ids),
        expected,
        applied,
        duplicates,
        lost + half["total"],
        {"half-applied": half["total"], **outbox_counts(meeting_ids)},
    )


def half_applied(meeting_ids: list[int]) -> dict:
    """Traces of a transition that wrote some of its rows but not others (impossible if each is one transaction)."""
    closed = Meeting.objects.filter(pk__in=meeting_ids, state="closed")
    problems = {
        # a closed meeting whose confirmed bookings were not completed
        "closed_with_confirmed_bookings": Booking.objects.filter(meeting__in=closed, status="confirmed").count(),
        # an opened meeting without its history row, or a history row without the state
        "open_without_history": Meeting.objects.filter(pk__in=meeting_ids, opened_at__isnull=False)
        .exclude(pk__in=StateChange.objects.filter(meeting_id__in=meeting_ids, to_state="open").values("meeting_id"))
        .count(),
        # a link marked sent without its message in the outbox
        "link_sent_without_message": sum(
            Appointment.objects.filter(meeting_id__in=meeting_ids, **{f"{which}_state": "sent"}).count()
            - Notification.objects.filter(meeting_id__in=meeting_ids, kind=which).count()
            for which in ("join_link", "feedback_link")
        ),
    }
    problems["total"] = sum(abs(v) for v in problems.values())
    return problems


def outbox_counts(meeting_ids: list[int]) -> dict:
    """Outbox rows per dedupe key can only be 1 (unique index); report how many were written and how many remain
    undelivered."""
    rows = Notification.objects.filter(meeting_id__in=meeting_ids)
    per_key = rows.values("dedupe_key").annotate(n=Count("id")).filter(n__gt=1).count()
    return {
        "messages": rows.count(),
        "messages duplicated": per_key,
        "messages undelivered": rows.filter(state="pending").count(),
    }
