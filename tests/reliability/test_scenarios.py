"""The reliability scenarios: small inside ``make test``; ``make reliability`` runs them at full size on PostgreSQL
(RELIABILITY_SCALE=full, see tests/reliability/run.py) and prints each scenario's tally line."""

import datetime as dt
import os
import random

import pytest
from django.db import connection

from core.models import StateChange
from core.runner import run_sweeps
from meetings.models import Meeting
from notifications.models import Notification
from tests.concurrency import manage
from tests.reliability.scenarios import audit, build, report

pytestmark = pytest.mark.django_db(transaction=True)

FULL = os.environ.get("RELIABILITY_SCALE") == "full"
# meetings per scenario, and for R2 how many times a worker is killed
SIZE = (
    {"R1": 2000, "R2": 300, "R2 kills": 20, "R4": 300, "R5": 500}
    if FULL
    else {
        "R1": 40,
        "R2": 30,
        "R2 kills": 6,
        "R4": 30,
        "R5": 20,
    }
)

FAST_CLOSE = {"SWEEP_BATCH_SIZE": "5"}  # the close delay is the policy's: set_policy(...) in each test


def sweep_processes(workers, start, until, step=3, env=None):
    connection.close()  # the children open their own connections
    processes = [
        manage(
            "run_sweeps",
            "--now",
            start.isoformat(),
            "--until",
            until.isoformat(),
            "--step",
            str(step),
            "--quiet",
            extra_env={**FAST_CLOSE, **(env or {})},
        )
        for _ in range(workers)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0] * workers, outputs
    return outputs


def test_r1_racing_workers_apply_each_transition_once(now, is_postgres, settings, set_policy):
    """4 processes (2 on SQLite) sweep the same minute on a simulated clock; every meeting starts and ends in it."""
    set_policy(meeting_auto_close_delay_minutes=0)  # in the database: the sweeping processes read it there
    count = SIZE["R1"]
    ids = build(count, first_start=now, spread_seconds=40, length=dt.timedelta(seconds=15))
    sweep_processes(4 if is_postgres else 2, now - dt.timedelta(seconds=5), now + dt.timedelta(seconds=70))
    tally = report(audit("R1 racing workers", ids))
    assert tally.ok, tally.line()
    # open (teacher + 3), join 3, feedback 3, closed 1, and one staff alert: the teacher never joined (review queue)
    assert tally.details["messages"] == count * (4 + 3 + 3 + 1 + 1) and tally.details["messages undelivered"] == 0


def test_r2_a_sweep_killed_at_random_moments_leaves_nothing_half_done(now, settings, set_policy):
    """SIGKILL a sweeping process mid-run, again and again; then one clean run finishes everything exactly once."""
    set_policy(meeting_auto_close_delay_minutes=0)  # in the database: the sweeping processes read it there
    ids = build(SIZE["R2"], first_start=now, spread_seconds=30, length=dt.timedelta(seconds=10))
    rng = random.Random(3)
    connection.close()
    killed = 0
    for _ in range(SIZE["R2 kills"]):
        process = manage(
            "run_sweeps",
            "--now",
            now.isoformat(),
            "--until",
            (now + dt.timedelta(seconds=50)).isoformat(),
            "--step",
            "1",
            extra_env={**FAST_CLOSE, "SWEEP_BATCH_SIZE": "2"},
        )
        for _ in range(rng.randint(1, 25)):  # wait for some progress lines, then kill without warning
            if not process.stdout.readline():
                break
        if process.poll() is None:
            process.kill()
            killed += 1
        process.communicate(timeout=60)
    assert killed >= SIZE["R2 kills"] // 2, "the scenario must actually kill workers mid-run"
    sweep_processes(1, now + dt.timedelta(seconds=50), now + dt.timedelta(seconds=50))
    tally = report(audit("R2 crashes", ids), kills=killed)
    assert tally.ok, tally.line()
    assert tally.details["messages undelivered"] == 0


@pytest.mark.postgres
def test_r4_losing_the_database_mid_sweep_fails_cleanly_and_the_next_sweep_completes(now, settings, set_policy):
    """Every connection of the sweeping process is terminated while it works (what a PostgreSQL restart looks like
    from the client); that run fails, nothing is half-applied, and the next run completes."""
    set_policy(meeting_auto_close_delay_minutes=0)  # in the database: the sweeping processes read it there
    ids = build(SIZE["R4"], first_start=now, spread_seconds=20, length=dt.timedelta(seconds=10))
    connection.close()
    process = manage(
        "run_sweeps",
        "--now",
        now.isoformat(),
        "--until",
        (now + dt.timedelta(seconds=40)).isoformat(),
        "--step",
        "1",
        extra_env={**FAST_CLOSE, "SWEEP_BATCH_SIZE": "2"},
    )
    for _ in range(8):
        process.stdout.readline()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0 and "sweep(s) failed" in err, "the interrupted run must fail, and say so"
    assert "terminating connection" in err or "connection is closed" in err or "server closed" in err
    sweep_processes(1, now + dt.timedelta(seconds=40), now + dt.timedelta(seconds=40))
    tally = report(audit("R4 database restart", ids))
    assert tally.ok, tally.line()


def test_r5_the_clock_jumps_forward_three_hours_and_back_a_minute(now, settings):
    """Downtime, then a worker whose clock is a minute behind: catch-up rules hold and nothing happens twice."""
    count = SIZE["R5"]
    ids = build(count, first_start=now + dt.timedelta(minutes=15), spread_seconds=600, length=dt.timedelta(minutes=30))
    run_sweeps(now)
    later = now + dt.timedelta(hours=3)
    first = run_sweeps(later)
    assert first["open_due_meetings"]["opened"] == count and first["close_due_meetings"]["closed"] == count
    behind = run_sweeps(later - dt.timedelta(minutes=1))
    again = run_sweeps(later)
    for results in (behind, again):
        assert not any(+counts for counts in results.values()), results
    tally = report(audit("R5 clock", ids))
    assert tally.ok, tally.line()
    # Catch-up rules: a class whose slot passed was opened quietly (no "class is open" message), its join links
    # were skipped, its feedback links (still useful within a day) were sent.
    assert not Notification.objects.filter(kind="class_open").exists()
    # (and, nobody having joined, each went to the no-show review: one staff alert each)
    assert set(Notification.objects.values_list("kind", flat=True)) == {
        "feedback_link",
        "class_closed",
        "teacher_no_show",
    }
    opened = StateChange.objects.filter(meeting_id__in=ids, to_state="open").values_list("reason", flat=True)
    assert all(reason.startswith("catch-up") for reason in opened)
    assert Meeting.objects.filter(pk__in=ids, state="closed").count() == count
