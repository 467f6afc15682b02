"""The attendance verdict: the teacher's time in the room, from the provider's evidence or our recorded sessions."""

import datetime as dt

import pytest

from integrations.http import ProviderError
from integrations.local.provider import LocalProvider
from integrations.video import Session
from meetings.access import identity_of
from meetings.attendance import record_session
from meetings.models import Meeting
from meetings.verdict import RECORDED, Stretch, attended_seconds, verify_attendance, verify_attendance_many
from tests.meetings.closing import MINUTE, SECOND, run_and_close

T0 = dt.datetime(2026, 7, 1, 13, 0, tzinfo=dt.UTC)


def stretch(start_s, end_s=None):
    return Stretch(T0 + start_s * SECOND, None if end_s is None else T0 + end_s * SECOND, "local")


class TestAttendedSeconds:
    def test_rejoins_add_up(self):
        assert attended_seconds([stretch(0, 120), stretch(300, 420), stretch(600, 720)], until=T0 + MINUTE * 60) == 360

    def test_overlaps_count_once(self):
        assert attended_seconds([stretch(0, 240), stretch(120, 360)], until=T0 + MINUTE * 60) == 360
        assert attended_seconds([stretch(0, 600), stretch(60, 120)], until=T0 + MINUTE * 60) == 600  # nested
        assert attended_seconds([stretch(0, 100), stretch(100, 200)], until=T0 + MINUTE * 60) == 200  # touching

    def test_an_open_session_runs_until_the_cap_and_nothing_counts_after_it(self):
        assert attended_seconds([stretch(0)], until=T0 + 90 * SECOND) == 90
        assert attended_seconds([stretch(0, 500)], until=T0 + 90 * SECOND) == 90
        assert attended_seconds([stretch(100, 200)], until=T0 + 90 * SECOND) == 0

    def test_no_sessions_is_zero(self):
        assert attended_seconds([], until=T0) == 0

    def test_nothing_before_since_counts(self):
        assert attended_seconds([stretch(-600, 0)], since=T0, until=T0 + MINUTE * 60) == 0
        assert attended_seconds([stretch(-300, 360)], since=T0, until=T0 + MINUTE * 60) == 360
        assert attended_seconds([stretch(-300)], since=T0, until=T0 + 90 * SECOND) == 90
        assert attended_seconds([stretch(-300, -100), stretch(-50, 60)], since=T0, until=T0 + MINUTE * 60) == 60


def verdict_for(meeting, *sessions, now=None):
    closed = run_and_close(meeting, *sessions)
    return verify_attendance(closed, now=now or closed.closed_at)


class TestVerdict:
    def test_299_seconds_is_not_enough(self, meeting):
        found = verdict_for(meeting, (0 * SECOND, 299 * SECOND))
        assert (found.verdict, found.seconds) == ("absent", 299)
        assert found.review_reason == "teacher 4 min only" and found.source == RECORDED

    def test_300_seconds_is_present(self, meeting):
        found = verdict_for(meeting, (0 * SECOND, 300 * SECOND))
        assert (found.verdict, found.seconds, found.review_reason) == ("present", 300, "")

    def test_three_short_sessions_adding_to_six_minutes_are_present(self, meeting):
        found = verdict_for(meeting, (0 * MINUTE, 2 * MINUTE), (10 * MINUTE, 12 * MINUTE), (30 * MINUTE, 32 * MINUTE))
        assert (found.verdict, found.seconds) == ("present", 360)
        assert len(found.evidence["sessions"]) == 3

    def test_overlapping_sessions_are_not_double_counted(self, meeting):
        # Two devices at once: 4 minutes each, overlapping by 3 -> 5 minutes, not 8.
        found = verdict_for(meeting, (0 * MINUTE, 4 * MINUTE), (1 * MINUTE, 5 * MINUTE))
        assert (found.verdict, found.seconds) == ("present", 300)
        found_short = verdict_for(
            Meeting.objects.create(
                teacher=meeting.teacher,
                course=meeting.course,
                title="twin",
                start_time=meeting.start_time + dt.timedelta(days=1),
                end_time=meeting.end_time + dt.timedelta(days=1),
                capacity=5,
            ),
            (0 * MINUTE, 4 * MINUTE),
            (0 * MINUTE, 4 * MINUTE),
        )
        assert (found_short.verdict, found_short.seconds) == ("absent", 240)

    def test_a_session_open_at_close_counts_until_the_close(self, meeting):
        # Joined 50 min into a 60 min class and never left: counted until the close moment (end + 5 min).
        found = verdict_for(meeting, (50 * MINUTE, None))
        assert (found.verdict, found.seconds) == ("present", 15 * 60)
        assert found.evidence["counted_until"] == (meeting.end_time + 5 * MINUTE).isoformat()

    def test_a_teacher_never_seen(self, meeting, alice):
        lifecycle_meeting = run_and_close(meeting)
        record_session(
            lifecycle_meeting,
            source="local",
            session_key="alice",
            identity=identity_of(alice),
            role="student",
            joined_at=meeting.start_time,
            left_at=meeting.end_time,
            student=alice,
        )
        found = verify_attendance(lifecycle_meeting, now=lifecycle_meeting.closed_at)
        assert (found.verdict, found.seconds, found.review_reason) == ("absent", 0, "teacher not seen")

    def test_ten_minutes_in_the_waiting_room_leaving_at_the_start_is_absent(self, meeting):
        found = verdict_for(meeting, (-10 * MINUTE, 0 * MINUTE))
        assert (found.verdict, found.seconds) == ("absent", 0)
        assert found.review_reason == "teacher seen only before the class started"
        assert found.evidence["counted_from"] == meeting.start_time.isoformat()
        assert len(found.evidence["sessions"]) == 1  # the reviewer still sees the stretch before the start

    def test_only_the_time_after_the_start_counts(self, meeting):
        found = verdict_for(meeting, (-5 * MINUTE, 6 * MINUTE))
        assert (found.verdict, found.seconds) == ("present", 360)

    def test_the_batch_path_counts_the_same_window(self, meeting):
        closed = run_and_close(meeting, (-10 * MINUTE, 0 * MINUTE), (-5 * MINUTE, 4 * MINUTE))
        single = verify_attendance(closed, now=closed.closed_at)
        batch = verify_attendance_many([closed], now=closed.closed_at)[closed.pk]
        assert (single.verdict, single.seconds) == ("absent", 240)
        assert batch == single

    def test_under_a_minute_says_seconds(self, meeting):
        assert verdict_for(meeting, (0 * SECOND, 45 * SECOND)).review_reason == "teacher 45 s only"


class TestEvidenceSources:
    @pytest.fixture
    def with_room(self, meeting):
        Meeting.objects.filter(pk=meeting.pk).update(room_provider="local", room_name="class-x")
        meeting.refresh_from_db()
        return meeting

    def test_the_providers_evidence_comes_first(self, with_room, monkeypatch):
        teacher = identity_of(with_room.teacher)
        reported = [Session(teacher, with_room.start_time, with_room.start_time + 10 * MINUTE, "zoom-report-1")]
        monkeypatch.setattr(LocalProvider, "attendance", lambda self, meeting: reported)
        found = verdict_for(with_room, (0 * MINUTE, 1 * MINUTE))  # we recorded only a minute
        assert (found.verdict, found.seconds, found.source) == ("present", 600, "provider:local")
        assert [s["session_key"] for s in found.evidence["sessions"]] == ["zoom-report-1"]

    def test_recorded_sessions_are_the_fallback_when_the_provider_saw_no_teacher(self, with_room, monkeypatch):
        monkeypatch.setattr(LocalProvider, "attendance", lambda self, meeting: [])
        found = verdict_for(with_room, (0 * MINUTE, 20 * MINUTE))
        assert (found.verdict, found.seconds, found.source) == ("present", 1200, RECORDED)

    def test_an_unreachable_provider_gives_unknown_never_present(self, with_room, monkeypatch):
        def down(self, meeting):
            raise ProviderError("timeout after 10 s")

        monkeypatch.setattr(LocalProvider, "attendance", down)
        found = verdict_for(with_room, (0 * MINUTE, 50 * MINUTE))  # our rows say present: not enough to pay on
        assert (found.verdict, found.seconds, found.review_reason) == ("unknown", None, "provider unreachable")
        assert found.evidence["provider_error"] == "timeout after 10 s"
        assert found.evidence["recorded_seconds"] == 3000

    def test_a_permanent_refusal_falls_back_to_the_recorded_sessions(self, with_room, monkeypatch):
        def refused(self, meeting):
            raise ProviderError("400: only available for paid accounts", permanent=True, status=400)

        monkeypatch.setattr(LocalProvider, "attendance", refused)
        found = verdict_for(with_room, (0 * MINUTE, 50 * MINUTE))
        assert (found.verdict, found.seconds, found.source) == ("present", 3000, RECORDED)
        assert found.evidence["provider_error_permanent"] is True

    def test_the_providers_sessions_count_only_from_the_start(self, with_room, monkeypatch):
        teacher = identity_of(with_room.teacher)
        early = with_room.start_time - 10 * MINUTE
        reported = [Session(teacher, early, with_room.start_time + 2 * MINUTE, "provider-1")]
        monkeypatch.setattr(LocalProvider, "attendance", lambda self, meeting: reported)
        found = verdict_for(with_room)
        assert (found.verdict, found.seconds, found.source) == ("absent", 120, "provider:local")

    def test_an_unreachable_provider_shows_the_recorded_seconds_of_class_time(self, with_room, monkeypatch):
        def down(self, meeting):
            raise ProviderError("timeout after 10 s")

        monkeypatch.setattr(LocalProvider, "attendance", down)
        found = verdict_for(with_room, (-10 * MINUTE, 1 * MINUTE))
        assert found.verdict == "unknown" and found.evidence["recorded_seconds"] == 60
        assert found.evidence["counted_from"] == with_room.start_time.isoformat()
