import datetime as dt
import logging

import time_machine
from django.conf import settings

from config.logging import HealthzIsNotAnError
from core.runner import beat, run_sweeps


def test_it_is_unhealthy_before_any_sweep(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "stale" and response.json()["database"] == "ok"


def test_it_is_healthy_after_a_sweep_and_reports_the_age(client, db, now):
    with time_machine.travel(now, tick=False):
        run_sweeps(now)
        beat("clock", started=now, counts={})
    with time_machine.travel(now + dt.timedelta(seconds=30), tick=False):
        body = client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "last_sweep_age_seconds": 30.0,
        "cluster": "alive",
        "clock_age_seconds": 30.0,
    }


def test_it_turns_unhealthy_when_the_last_sweep_is_older_than_three_minutes(client, db, now):
    with time_machine.travel(now, tick=False):
        run_sweeps(now)
    with time_machine.travel(now + dt.timedelta(minutes=3), tick=False):
        assert client.get("/healthz").status_code == 200
    with time_machine.travel(now + dt.timedelta(minutes=3, seconds=1), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["cluster"] == "not seen"


def test_it_needs_no_login(client, db):
    assert client.get("/healthz").status_code in (200, 503)


# --- how a 503 is logged: a health report, not an ERROR (issue 21, item 4) -------------------------------------------


def _request_log(caplog):
    return [record for record in caplog.records if record.name == "django.request"]


def test_before_the_first_sweep_the_503_is_logged_once_as_info_not_as_an_error(client, db, caplog):
    caplog.set_level(logging.DEBUG, logger="django.request")
    assert client.get("/healthz").status_code == 503
    records = _request_log(caplog)
    assert [(record.levelname, record.getMessage()) for record in records] == [
        ("INFO", "Service Unavailable: /healthz (stale)")
    ]


def test_stale_sweeps_are_a_warning(client, db, now, caplog):
    caplog.set_level(logging.DEBUG, logger="django.request")
    with time_machine.travel(now, tick=False):
        run_sweeps(now)
    with time_machine.travel(now + dt.timedelta(minutes=4), tick=False):
        assert client.get("/healthz").status_code == 503
    assert [record.levelname for record in _request_log(caplog)] == ["WARNING"]


def test_runservers_request_line_for_the_healthz_503_is_a_warning_and_other_5xx_stay_errors():
    line = logging.makeLogRecord(
        {
            "name": "django.server",
            "levelno": logging.ERROR,
            "levelname": "ERROR",
            "msg": '"%s" %s %s',
            "args": ("GET /healthz HTTP/1.1", "503", "120"),
            "status_code": 503,
        }
    )
    assert HealthzIsNotAnError().filter(line) and line.levelname == "WARNING" and line.levelno == logging.WARNING
    other = logging.makeLogRecord(
        {
            "name": "django.server",
            "levelno": logging.ERROR,
            "levelname": "ERROR",
            "msg": '"%s" %s %s',
            "args": ("GET /api/v1/me/ HTTP/1.1", "503", "120"),
            "status_code": 503,
        }
    )
    assert HealthzIsNotAnError().filter(other) and other.levelname == "ERROR"
    assert "healthz_is_not_an_error" in settings.LOGGING["loggers"]["django.server"]["filters"]
