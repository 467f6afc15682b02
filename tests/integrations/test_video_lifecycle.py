"""A class that runs itself on LiveKit and on Zoom (both fakes): rooms ahead of time, working credentials only inside
each person's window, nobody left at close, attendance sessions from the provider, and a provider outage at close."""

import datetime as dt

import pytest
import requests
import time_machine

from bookings.links import join_url
from core.runner import run_sweeps
from meetings.access import JoinRefused, credentials_for, identity_of
from meetings.models import Meeting, MeetingParticipant
from tests.factories import book

LIVEKIT_URL = "/integrations/livekit/webhook/"
ZOOM_URL = "/integrations/zoom/webhook/"


class Video:
    """What a test needs to know about one provider's fake."""

    def __init__(self, name, fake, webhook_url):
        self.name, self.fake, self.webhook_url = name, fake, webhook_url

    def present(self, meeting):
        if self.name == "livekit":
            return self.fake.in_room(meeting.room_name)
        return self.fake.in_meeting(meeting.room_external_id)

    def room_exists(self, meeting):
        if self.name == "livekit":
            return meeting.room_name in self.fake.rooms
        return meeting.room_external_id in self.fake.meetings

    def deliver_webhooks(self, client, since):
        for webhook in self.fake.events[since:]:
            assert client.post(self.webhook_url, data=webhook.body, **webhook.headers()).status_code == 200


@pytest.fixture(params=["livekit", "zoom"])
def video(request):
    if request.param == "livekit":
        return Video("livekit", request.getfixturevalue("livekit"), LIVEKIT_URL)
    request.getfixturevalue("zoom_accounts")
    return Video("zoom", request.getfixturevalue("zoom"), ZOOM_URL)


def enter(url):
    """Open a provider URL (the fake's stand-in for the meeting page) as a browser would."""
    reply = requests.get(url, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply


def test_a_class_runs_itself_on_the_provider(client, video, meeting, teacher, alice, bob, now):
    alice_link = join_url(book(alice, meeting, now=now).appointment.pk).removeprefix("http://127.0.0.1:8000")
    bob_link = join_url(book(bob, meeting, now=now).appointment.pk).removeprefix("http://127.0.0.1:8000")
    start = meeting.start_time

    with time_machine.travel(start - dt.timedelta(minutes=60), tick=False):
        run_sweeps(start - dt.timedelta(minutes=60))
    meeting.refresh_from_db()
    assert meeting.room_provider == video.name and video.room_exists(meeting)

    with time_machine.travel(start - dt.timedelta(minutes=11), tick=False):
        with pytest.raises(JoinRefused):  # the teacher's window opens 10 minutes before start
            credentials_for(meeting, teacher, "teacher", start - dt.timedelta(minutes=11))
        assert client.get(alice_link).status_code == 403  # students wait for the start

    with time_machine.travel(start - dt.timedelta(minutes=10), tick=False):
        seen = len(video.fake.events)
        enter(credentials_for(meeting, teacher, "teacher", start - dt.timedelta(minutes=10)).url)
        video.deliver_webhooks(client, seen)
    assert MeetingParticipant.objects.get().teacher == teacher

    with time_machine.travel(start, tick=False):
        run_sweeps(start)
    meeting.refresh_from_db()
    assert meeting.state == Meeting.State.IN_PROGRESS  # the teacher was already in the room at opening

    with time_machine.travel(start + dt.timedelta(minutes=2), tick=False):
        seen = len(video.fake.events)
        redirect = client.get(alice_link)
        assert redirect.status_code == 302
        enter(redirect["Location"])
        video.deliver_webhooks(client, seen)
    with time_machine.travel(meeting.student_may_join_until + dt.timedelta(seconds=1), tick=False):
        assert client.get(bob_link).status_code == 403  # the late-join grace is over
    in_room = {identity_of(teacher), identity_of(alice)} if video.name == "livekit" else {"Host", "Alice"}
    assert set(video.present(meeting)) == in_room

    close = meeting.close_at
    with time_machine.travel(close, tick=False):
        seen = len(video.fake.events)
        results = run_sweeps(close)
        video.deliver_webhooks(client, seen)
    meeting.refresh_from_db()
    assert meeting.state == Meeting.State.CLOSED and results["end_rooms"]["ended"] == 1
    assert meeting.room_ended_at == close and video.present(meeting) == []
    sessions = MeetingParticipant.objects.filter(meeting=meeting).order_by("joined_at")
    assert [(s.identity, s.source, s.joined_at) for s in sessions if s.source.endswith("webhook")] == [
        (identity_of(teacher), f"{video.name}_webhook", start - dt.timedelta(minutes=10)),
        (identity_of(alice), f"{video.name}_webhook", start + dt.timedelta(minutes=2)),
    ]
    assert all(s.left_at == close for s in sessions)


def test_provider_down_at_close_the_class_still_closes_and_the_room_end_is_retried(
    client, video, meeting, teacher, alice, now
):
    start = meeting.start_time
    with time_machine.travel(start - dt.timedelta(minutes=60), tick=False):
        run_sweeps(start - dt.timedelta(minutes=60))
    meeting.refresh_from_db()
    with time_machine.travel(start, tick=False):
        run_sweeps(start)
        enter(credentials_for(meeting, teacher, "teacher", start).url)

    video.fake.fail_fraction(1.0)  # the provider is down
    close = meeting.close_at
    with time_machine.travel(close, tick=False):
        results = run_sweeps(close)
    meeting.refresh_from_db()
    assert meeting.state == Meeting.State.CLOSED and meeting.closed_at == close
    assert results["end_rooms"] == {"failed": 1}
    assert meeting.room_ended_at is None and meeting.last_error.startswith("end room:")
    assert video.present(meeting) != []

    video.fake.fail_fraction(0.0)  # back up
    later = close + dt.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert run_sweeps(later)["end_rooms"] == {"ended": 1}
        assert run_sweeps(later + dt.timedelta(minutes=1))["end_rooms"] == {}  # run twice: nothing left to do
    meeting.refresh_from_db()
    assert meeting.room_ended_at == later and meeting.last_error == "" and meeting.retry_at is None
    assert meeting.settled_at is not None
    assert video.present(meeting) == []
