"""Signed link tokens never reach a log line: Django's request log ("Gone: /j/<token>/") and runserver's request
lines ('"GET /rooms/<name>/?t=<token> HTTP/1.1" 403') go through config.logging.RedactLinkTokens."""

import datetime as dt
import io
import logging
import threading

import pytest
import requests
import time_machine
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

from bookings import links
from config.logging import JsonFormatter, RedactLinkTokens, redact
from integrations.video import get_provider
from meetings.rooms import provision_rooms
from tests.factories import book

MINUTE = dt.timedelta(minutes=1)
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.SIGNATURE-part_1234567890"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Forbidden: /j/" + TOKEN + "/", "Forbidden: /j/eyJh…[redacted]/"),
        ("Gone: /feedback/" + TOKEN + "/", "Gone: /feedback/eyJh…[redacted]/"),
        (
            f'"GET /rooms/class-7-ab12/?t={TOKEN} HTTP/1.1" 403 120',
            '"GET /rooms/class-7-ab12/?t=eyJh…[redacted] HTTP/1.1" 403 120',
        ),
        (f"/rooms/class-7/?lang=vi&t={TOKEN}&x=1", "/rooms/class-7/?lang=vi&t=eyJh…[redacted]&x=1"),
        (f"http://127.0.0.1:8000/j/{TOKEN}/", "http://127.0.0.1:8000/j/eyJh…[redacted]/"),
        ("/j/abc/", "/j/…[redacted]/"),  # too short to show any of it
        ("GET /api/v1/meetings/?t=1 HTTP/1.1", "GET /api/v1/meetings/?t=1 HTTP/1.1"),  # not a room: left alone
        ("/admin/j/", "/admin/j/"),
        (
            f'"GET /integrations/line/link/demo/?linkToken={TOKEN}&role=guardian HTTP/1.1" 302 0',
            '"GET /integrations/line/link/demo/?linkToken=eyJh…[redacted]&role=guardian HTTP/1.1" 302 0',
        ),
        (  # the same page behind the login: the token is inside ?next=, URL-encoded
            f"/admin/login/?next=/integrations/line/link/demo/%3FlinkToken%3D{TOKEN}%26role%3Dstudent",
            "/admin/login/?next=/integrations/line/link/demo/%3FlinkToken%3DeyJh…[redacted]%26role%3Dstudent",
        ),
    ],
)
def test_it_redacts_the_token_part_only(text, expected):
    assert redact(text) == expected
    assert redact(redact(text)) == expected  # a record seen twice stays the same


def test_it_redacts_the_message_the_args_and_extra_values():
    record = logging.makeLogRecord(
        {"msg": "%s: %s", "args": ("Forbidden", f"/j/{TOKEN}/"), "request": f"<WSGIRequest: GET '/j/{TOKEN}/'>"}
    )
    assert RedactLinkTokens().filter(record) is True
    assert TOKEN not in record.getMessage() and TOKEN not in JsonFormatter().format(record)
    assert record.getMessage() == "Forbidden: /j/eyJh…[redacted]/"
    named = logging.LogRecord("x", logging.INFO, __file__, 1, "%(path)s", ({"path": f"/feedback/{TOKEN}/"},), None)
    RedactLinkTokens().filter(named)
    assert named.getMessage() == "/feedback/eyJh…[redacted]/"


def all_text(records, formatters) -> str:
    return "\n".join(f.format(r) for r in records for f in formatters) + "\n".join(repr(vars(r)) for r in records)


@pytest.mark.django_db
def test_a_refused_click_logs_no_token(client, meeting, alice, now, caplog):
    booking = book(alice, meeting, now=now)
    join = links.join_url(booking.appointment.pk).removeprefix("http://127.0.0.1:8000")
    feedback = links.feedback_url(booking.appointment.pk).removeprefix("http://127.0.0.1:8000")
    secret_parts = [join.split("/")[2], feedback.split("/")[2]]
    caplog.set_level(logging.INFO)
    with time_machine.travel(now, tick=False):
        assert client.get(join).status_code == 403  # too early
        assert client.post(feedback, {"rating": "5"}).status_code == 403  # the class has not started
    with time_machine.travel(meeting.close_at, tick=False):
        assert client.get(join).status_code == 410
    refused = [r for r in caplog.records if r.name == "django.request"]
    assert len(refused) == 3, [r.getMessage() for r in caplog.records]
    assert refused[0].getMessage() == "Forbidden: /j/" + secret_parts[0][:4] + "…[redacted]/"
    text = all_text(refused, [JsonFormatter()])
    assert all(part not in text for part in secret_parts)


@pytest.mark.django_db(transaction=True)
def test_runserver_request_lines_log_no_token(meeting, alice, now):
    """A real development server (Django's WSGIServer and its request handler) answering refused clicks: the request
    lines it logs and Django's request log both leave the tokens out, whatever handler writes them."""
    booking = book(alice, meeting, now=now)
    provision_rooms(meeting.start_time - 60 * MINUTE)
    meeting.refresh_from_db()
    join = links.join_url(booking.appointment.pk).removeprefix("http://127.0.0.1:8000")
    room_token = (
        get_provider(meeting.room_provider)
        .join_credentials(
            meeting,
            identity="student:1",
            display_name="Alice",
            role="student",
            not_before=meeting.start_time,
            expires_at=meeting.start_time + 10 * MINUTE,
        )
        .token
    )
    secret_parts = [join.split("/")[2], room_token]

    # Django's own handler, not config.wsgi: that one refuses to start with the development key while the test
    # runner has DEBUG off (config.E002), which is what it is for.
    app = WSGIHandler()
    stream = io.StringIO()
    written = logging.StreamHandler(stream)
    written.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("django.server", "django.request")]
    configured = [h for h in loggers[0].handlers]  # runserver's own handler from settings.LOGGING
    seen: list[logging.LogRecord] = []
    keep = logging.Handler()
    keep.emit = seen.append
    for logger in loggers:
        logger.addHandler(written)
        logger.addHandler(keep)
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, ipv6=False)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with time_machine.travel(meeting.close_at, tick=False):
            assert requests.get(base + join, timeout=10).status_code == 410
            room = requests.get(f"{base}/rooms/{meeting.room_name}/?t={room_token}", timeout=10)
            assert room.status_code == 403
    finally:
        server.shutdown()
        server.server_close()
        for logger in loggers:
            logger.removeHandler(written)
            logger.removeHandler(keep)
    lines = [r.getMessage() for r in seen if r.name == "django.server"]
    assert len(lines) == 2 and all("[redacted]" in line for line in lines), lines
    text = stream.getvalue() + all_text(seen, [JsonFormatter(), *(h.formatter for h in configured if h.formatter)])
    assert all(part not in text for part in secret_parts), text
