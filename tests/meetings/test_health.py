import datetime as dt

import time_machine

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
