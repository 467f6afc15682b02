"""The settle sweep's batch path: a whole batch judged and settled in one transaction, with the same outcomes as
settling each meeting alone; one bad meeting fails alone; the statements per batch do not grow with its size."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings import transitions
from bookings.models import Booking, Payout
from core.models import StateChange
from integrations.http import ProviderError
from integrations.video import Session
from integrations.zoom.provider import ZoomProvider
from meetings import settlement
from meetings.access import identity_of
from meetings.models import Meeting
from meetings.settlement import settle_batch
from notifications.models import Notification
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db


def closed_class(now, *sessions, students=2, price="10.00", provider="", offset=0, students_came_in=True):
    """A class closed at its close moment with the teacher's ``sessions``; nothing settled yet."""
    start = now + dt.timedelta(hours=1)
    meeting = MeetingFactory(
        teacher=TeacherFactory(),
        course=CourseFactory(price=Decimal(price), currency="USD"),
        start_time=start,
        end_time=start + dt.timedelta(hours=1),
    )
    for _ in range(students):
        book(StudentFactory(), meeting, now=now)
    if provider:
        Meeting.objects.filter(pk=meeting.pk).update(room_provider=provider, room_name=f"room-{meeting.pk}")
        meeting.refresh_from_db()
    return run_and_close(meeting, *sessions, students_came_in=students_came_in)


def verdicts(*meetings):
    return {m.pk: Meeting.objects.values_list("attendance_verdict", "review_reason").get(pk=m.pk) for m in meetings}


def payout_state(meeting):
    return Payout.objects.filter(meeting=meeting).values_list("state", flat=True).first()


@pytest.fixture
def zoom_down(monkeypatch):
    def down(self, meeting):
        raise ProviderError("connection refused")

    monkeypatch.setattr(ZoomProvider, "attendance", down)


class TestMixedBatch:
    def test_each_meeting_gets_what_settling_it_alone_would_give(self, now, zoom_down):
        present = closed_class(now, (0 * MINUTE, 50 * MINUTE))
        local_room = closed_class(now, (0 * MINUTE, 50 * MINUTE), provider="local")
        absent = closed_class(now)
        empty = closed_class(now, (0 * MINUTE, 50 * MINUTE), students=0)
        complained = closed_class(now, (0 * MINUTE, 50 * MINUTE))
        Booking.objects.filter(meeting=complained).update(has_complaint=True)
        unreachable = closed_class(now, (0 * MINUTE, 50 * MINUTE), provider="zoom")

        counts = settlement.settle_closed_meetings(present.close_at)

        assert counts == {"present": 3, "absent": 1, "present, no payout": 1, "unknown": 1}
        assert verdicts(present, local_room, absent, empty, complained, unreachable) == {
            present.pk: ("present", ""),
            local_room.pk: ("present", ""),
            absent.pk: ("absent", "teacher not seen"),
            empty.pk: ("present", ""),
            complained.pk: ("present", "student complaint"),
            unreachable.pk: ("unknown", "provider unreachable"),
        }
        assert [payout_state(m) for m in (present, local_room, absent, empty, complained, unreachable)] == [
            "pending",
            "pending",
            "held",
            None,
            "held",
            "held",
        ]
        payout = Payout.objects.get(meeting=present)
        assert (payout.gross, payout.commission + payout.net) == (Decimal("20.00"), Decimal("20.00"))
        assert Meeting.objects.get(pk=local_room.pk).attendance_source == "provider:local"
        alerted = set(Notification.objects.filter(kind="teacher_no_show").values_list("meeting_id", flat=True))
        assert alerted == {absent.pk, complained.pk, unreachable.pk}
        reviews = StateChange.objects.filter(field="review_state").values_list("meeting_id", flat=True)
        assert sorted(reviews) == sorted([absent.pk, complained.pk, unreachable.pk])
        assert Meeting.objects.filter(settled_at=present.close_at, lease_until__isnull=True).count() == 6

    def test_the_local_providers_one_query_reports_like_its_single_call(self, now):
        from integrations.local.provider import LocalProvider

        meetings = [
            closed_class(now, (0 * MINUTE, 20 * MINUTE), provider="local", students_came_in=False) for _ in range(2)
        ]
        meetings.append(closed_class(now, provider="local", students_came_in=False))
        many = LocalProvider().attendance_many(meetings)
        assert set(many) == {m.pk for m in meetings} and many[meetings[2].pk] == []
        for meeting in meetings:
            assert many[meeting.pk] == LocalProvider().attendance(meeting)
        teachers = [s.identity for s in many[meetings[0].pk] if s.identity.startswith("teacher:")]
        assert teachers == [identity_of(meetings[0].teacher)]

    def test_a_provider_report_comes_first_in_the_batch_too(self, now, monkeypatch):
        meeting = closed_class(now, (0 * MINUTE, 1 * MINUTE), provider="zoom")  # we recorded a minute only
        reported = [Session(identity_of(meeting.teacher), meeting.start_time, meeting.start_time + 10 * MINUTE, "z1")]
        monkeypatch.setattr(ZoomProvider, "attendance", lambda self, m: reported)
        assert settlement.settle_closed_meetings(meeting.close_at) == {"present": 1}
        meeting.refresh_from_db()
        assert (meeting.teacher_attended_seconds, meeting.attendance_source) == (600, "provider:zoom")


class TestFailures:
    def test_one_meeting_that_raises_fails_alone_and_the_others_settle(self, now, monkeypatch):
        good = [closed_class(now, (0 * MINUTE, 50 * MINUTE)) for _ in range(3)]
        bad = closed_class(now, (0 * MINUTE, 50 * MINUTE))
        real = transitions.create_payouts

        def broken_for_bad(orders, **kwargs):
            orders = list(orders)
            if any(o.meeting.pk == bad.pk for o in orders):
                raise RuntimeError("bad row")
            return real(orders, **kwargs)

        monkeypatch.setattr(transitions, "create_payouts", broken_for_bad)
        counts = settlement.settle_closed_meetings(bad.close_at)

        assert counts == {"present": 3, "failed": 1}
        bad.refresh_from_db()
        assert bad.settled_at is None and bad.last_error == "settle: bad row" and bad.retry_at > bad.close_at
        assert Payout.objects.filter(meeting__in=good).count() == 3 and not Payout.objects.filter(meeting=bad)
        assert not StateChange.objects.filter(meeting=bad, field="attendance").exists()  # its part rolled back
        monkeypatch.setattr(transitions, "create_payouts", real)
        assert settlement.settle_closed_meetings(bad.retry_at) == {"present": 1}
        bad.refresh_from_db()
        assert bad.last_error == "" and bad.failure_count == 0 and payout_state(bad) == "pending"

    def test_a_provider_that_raises_for_one_meeting_fails_it_alone(self, now, monkeypatch):
        meetings = [closed_class(now, (0 * MINUTE, 50 * MINUTE), provider="zoom") for _ in range(3)]
        bad = meetings[1]
        asked = Counter()

        def attendance(self, meeting):
            asked[meeting.pk] += 1
            if meeting.pk == bad.pk:
                raise ValueError("unexpected answer")
            return []  # the provider saw no teacher: our recorded sessions count

        monkeypatch.setattr(ZoomProvider, "attendance", attendance)
        assert settlement.settle_closed_meetings(bad.close_at) == {"present": 2, "failed": 1}
        assert Meeting.objects.get(pk=bad.pk).last_error == "settle: unexpected answer"
        assert asked == dict.fromkeys([m.pk for m in meetings], 1)  # nobody was asked twice
        assert Payout.objects.count() == 2
        assert Meeting.objects.filter(lease_until__isnull=False).count() == 0

    def test_a_failing_settlement_in_a_remote_batch_fails_alone(self, now, monkeypatch):
        monkeypatch.setattr(ZoomProvider, "attendance", lambda self, meeting: [])
        meetings = [closed_class(now, (0 * MINUTE, 50 * MINUTE), provider="zoom") for _ in range(3)]
        bad = meetings[0]
        real = transitions.create_payouts

        def broken_for_bad(orders, **kwargs):
            orders = list(orders)
            if any(o.meeting.pk == bad.pk for o in orders):
                raise RuntimeError("bad row")
            return real(orders, **kwargs)

        monkeypatch.setattr(transitions, "create_payouts", broken_for_bad)
        assert settlement.settle_closed_meetings(bad.close_at) == {"present": 2, "failed": 1}
        assert Meeting.objects.get(pk=bad.pk).last_error == "settle: bad row"
        assert Meeting.objects.filter(lease_until__isnull=False).count() == 0


class TestSweepTwice:
    def test_the_second_run_changes_nothing(self, now, zoom_down):
        meetings = [
            closed_class(now, (0 * MINUTE, 50 * MINUTE)),
            closed_class(now),
            closed_class(now, students=0),
            closed_class(now, (0 * MINUTE, 50 * MINUTE), provider="zoom"),
        ]
        first = settlement.settle_closed_meetings(meetings[0].close_at)
        snapshot = (
            list(Meeting.objects.order_by("pk").values_list("settled_at", "attendance_verdict", "review_state")),
            StateChange.objects.count(),
            Payout.objects.count(),
            Notification.objects.count(),
        )
        second = settlement.settle_closed_meetings(meetings[0].close_at + MINUTE)
        assert sum(first.values()) == 4 and not second
        assert snapshot == (
            list(Meeting.objects.order_by("pk").values_list("settled_at", "attendance_verdict", "review_state")),
            StateChange.objects.count(),
            Payout.objects.count(),
            Notification.objects.count(),
        )


class TestStatementsPerBatch:
    def settle_counting_queries(self, meetings):
        with CaptureQueriesContext(connection) as queries:
            outcomes = settle_batch([m.pk for m in meetings], now=meetings[0].close_at)
        assert len(outcomes) == len(meetings)
        return len(queries)

    def test_a_batch_of_twelve_takes_as_many_statements_as_a_batch_of_three(self, now):
        def mixed(n):
            return [
                closed_class(now, (0 * MINUTE, 50 * MINUTE) if i % 2 else (0 * MINUTE, 1 * MINUTE)) for i in range(n)
            ]

        small, large = mixed(3), mixed(12)
        assert self.settle_counting_queries(large) == self.settle_counting_queries(small)
        assert Counter(Payout.objects.values_list("state", flat=True)) == {"pending": 7, "held": 8}


def test_a_meeting_whose_provider_is_unknown_fails_alone(now):
    known = closed_class(now, (0 * MINUTE, 50 * MINUTE))
    odd = closed_class(now, (0 * MINUTE, 50 * MINUTE), provider="jitsi")  # not in integrations.video.PROVIDERS
    assert settlement.settle_closed_meetings(odd.close_at) == {"present": 1, "failed": 1}
    odd.refresh_from_db()
    assert odd.settled_at is None and odd.last_error.startswith("settle: ") and odd.lease_until is None
    assert Meeting.objects.get(pk=known.pk).settled_at == known.close_at


def test_the_batch_verdicts_equal_the_single_ones(now, zoom_down):
    from meetings.verdict import verify_attendance, verify_attendance_many

    meetings = [
        closed_class(now, (0 * MINUTE, 50 * MINUTE)),
        closed_class(now, (0 * MINUTE, 2 * MINUTE), (10 * MINUTE, 12 * MINUTE)),
        closed_class(now),
        closed_class(now, (0 * MINUTE, 30 * MINUTE), provider="local"),
        closed_class(now, (5 * MINUTE, None), provider="local"),
        closed_class(now, (0 * MINUTE, 50 * MINUTE), provider="zoom"),
    ]
    many = verify_attendance_many(meetings, now=meetings[0].close_at)
    assert many == {m.pk: verify_attendance(m, now=m.close_at) for m in meetings}
    assert [v.verdict for v in many.values()] == ["present", "absent", "absent", "present", "present", "unknown"]
