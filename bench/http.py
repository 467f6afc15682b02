"""H1: the API and the join links under load (issue 22), over real HTTP.

On its own throw-away PostgreSQL database (created beside the benchmark's, dropped at the end), filled like a real
school: 2,000 students with logins and API tokens, 200 classes today, all in the evening peak that has just started
(10 students each, so every student is inside their join window), 30 days of closed classes before and 14 days of
booked ones after. Then gunicorn serving ``config.wsgi`` with the production settings (DEBUG off, behind a TLS proxy:
every request says ``X-Forwarded-Proto: https``), 4 workers as in README's "Run it in production", plus one
``qcluster`` with its clock, and ``wrk`` (Debian's package) on 127.0.0.1, bounded in time, against:

- the floor: a plain Django view returning a constant JSON through the same stack (only routed here:
  ``bench.http_settings`` / ``bench.http_urls``);
- ``/healthz``;
- ``GET /api/v1/meetings/`` as a student (each request the next of the 2,000 students' tokens);
- ``GET /api/v1/meetings/<id>/join/`` as a student inside their window;
- ``GET /j/<token>/``: the 2,000 students clicking the join links of their messages (wrk's Lua script rotates
  through a file of their links: bench/http.lua).

While wrk runs, classes keep falling due: the cluster's clock must open them on time (their open lateness, p99, as
B5 measures it) and the outbox must deliver the messages their openings write (counted, and their delay). gunicorn
and the cluster run in their own process groups, killed whatever happens, and the database is dropped.

    python -m bench.run --only H1
    python -m bench.http fill|due|check ...   # the children run_h1 starts, on the H1 database
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import django

if __name__ == "__main__":
    # A child of run_h1 (fill, due, check): Django on the H1 database, in the environment run_h1 gives it.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.http_settings")
    django.setup()

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from bench import data
from bench.http_env import h1_environment, throwaway_database
from bench.http_urls import FLOOR_PATH
from bench.process import ROOT, fetch, run_process, start_group, stop_groups
from bookings import links
from bookings.models import Appointment, Booking
from classroom import policies, tokens
from classroom.models import ApiToken, Course, Student, Teacher
from core.runner import run_sweeps
from meetings.models import Meeting
from meetings.stats import percentile
from notifications.models import Notification

STUDENTS = 2_000
PEAK_CLASSES = 200  # today's classes, all in the peak: every student has a seat in one of them
STUDENTS_EACH = STUDENTS // PEAK_CLASSES
HISTORY_DAYS = 30  # a peak a day before today, closed and settled
FUTURE_DAYS = 14  # a peak a day after today, each class with a few seats booked
FUTURE_BOOKED = 4
LENGTH = dt.timedelta(minutes=50)
# The peak started this long before the fill: the students' first-entry window (10 minutes) covers the whole run.
PEAK_STARTED_SECONDS_AGO = 30

WORKERS = 4  # README's gunicorn line
THREADS, CONNECTIONS = 2, 32  # wrk: one thread per core, as many connections as the measurement
SECONDS, WARM_UP_SECONDS = 10, 2
WRK_TIMEOUT = "2s"  # a request slower than this counts as an error (wrk's timeout)
DUE_CLASSES = 100  # classes starting while wrk runs (the clock must open them on time)
LUA = ROOT / "bench" / "http.lua"

# (key, what, requests file, status each request must get)
ENDPOINTS = (
    ("floor", "floor: constant JSON", "floor.tsv", 200),
    ("healthz", "/healthz", "healthz.tsv", 200),
    ("list", "meeting list (student)", "list.tsv", 200),
    ("join_api", "join API (student)", "join_api.tsv", 200),
    ("join_link", "join-link click /j/<token>/", "join_link.tsv", 302),
)
# The targets on this machine: requests/s at least, p99 at most (ms).
TARGETS = {"list": (400, 150), "join_link": (600, 100)}
FLOOR_FACTOR = 3  # each endpoint within 3x the floor's time per request
LATENESS_P99_SECONDS = 5  # B5's budget
DELIVERY_P99_SECONDS = 5


# --- the children: fill, due, check (python -m bench.http ..., on the H1 database) -----------------------------------


def _logins(school, now) -> dict[int, str]:
    """A login and an API token for every student of the pool: {student id: token}."""
    User = get_user_model()
    first = data.next_id(User)
    data.Copier(User).copy(
        {"id": first + n, "username": f"bench-student-{pk}", "password": "!", "date_joined": now}
        for n, pk in enumerate(school.student_ids)
    )
    data.fix_sequences(User)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Student._meta.db_table} s SET user_id = u.id FROM {User._meta.db_table} u "
            "WHERE u.username = 'bench-student-' || s.id"
        )
    users = dict(Student.objects.filter(pk__in=school.student_ids).values_list("pk", "user_id"))
    issued = {pk: secrets.token_hex(tokens.TOKEN_BYTES) for pk in school.student_ids}
    first = data.next_id(ApiToken)
    data.Copier(ApiToken).copy(
        {
            "id": first + n,
            "user_id": users[pk],
            "digest": tokens.digest_of(token),
            "created_at": now,
            "expires_at": now + dt.timedelta(days=7),
        }
        for n, (pk, token) in enumerate(issued.items())
    )
    data.fix_sequences(ApiToken)
    return issued


def _days(peak: dt.datetime, days: range) -> list[dt.datetime]:
    """PEAK_CLASSES starts on each day of ``days`` (offsets from today), a quarter of them every half hour."""
    return [peak + dt.timedelta(days=day, minutes=30 * (n % 4)) for day in days for n in range(PEAK_CLASSES)]


def fill(directory: Path) -> dict:
    """Migrate, fill the school, and write the request files wrk rotates through."""
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    now = timezone.now()
    peak = now.replace(microsecond=0) - dt.timedelta(seconds=PEAK_STARTED_SECONDS_AGO)
    school = data.School(students=STUDENTS)
    issued = _logins(school, now)

    history = data.burst(
        school, starts=_days(peak, range(-HISTORY_DAYS, 0)), students_each=STUDENTS_EACH, now=now, duration=LENGTH
    )
    past = Meeting.objects.filter(pk__range=(history[0], history[-1]))
    past.update(
        state=Meeting.State.CLOSED,
        opened_at=F("start_time"),
        closed_at=F("end_time") + dt.timedelta(minutes=5),
        auto_opened=True,
        auto_closed=True,
        settled_at=F("end_time") + dt.timedelta(minutes=5),
        room_ended_at=F("end_time") + dt.timedelta(minutes=5),
        attendance_verdict="present",
    )
    Booking.objects.filter(meeting__in=past).update(status=Booking.Status.COMPLETED, completed_at=now)
    Appointment.objects.filter(meeting__in=past).update(feedback_link_state="sent", feedback_link_at=now)

    today = data.burst(school, starts=[peak] * PEAK_CLASSES, students_each=STUDENTS_EACH, now=now, duration=LENGTH)
    Meeting.objects.filter(pk__in=today).update(state=Meeting.State.OPEN, opened_at=peak, auto_opened=True)

    future = data.burst(
        school, starts=_days(peak, range(1, FUTURE_DAYS + 1)), students_each=FUTURE_BOOKED, now=now, duration=LENGTH
    )
    ahead = Meeting.objects.filter(pk__range=(future[0], future[-1]))
    ahead.update(room_provisioned_at=None, room_name="", min_participants_checked_at=None)
    Appointment.objects.filter(meeting__in=ahead).update(join_link_state="pending", join_link_at=None)
    # Every class cites the policy version in force, as schedule_meeting pins it (the re-pin sweep finds none).
    Meeting.objects.update(policy_id=policies.current(now).version)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have: counts read the indexes alone

    rng = random.Random(22)
    students = list(issued.items())
    appointments = list(Appointment.objects.filter(meeting_id__in=today).values_list("pk", "meeting_id", "student_id"))
    rng.shuffle(students)
    rng.shuffle(appointments)
    files = {
        "floor.tsv": [f"{FLOOR_PATH}\t"],
        "healthz.tsv": ["/healthz\t"],
        "list.tsv": [f"/api/v1/meetings/\t{token}" for _, token in students],
        "join_api.tsv": [
            f"/api/v1/meetings/{meeting}/join/\t{issued[student]}" for _, meeting, student in appointments
        ],
        "join_link.tsv": [f"{urlsplit(links.join_url(pk)).path}\t" for pk, _, _ in appointments],
    }
    for name, lines in files.items():
        (directory / name).write_text("\n".join(lines) + "\n")

    call_command("setup_schedules", stdout=open(os.devnull, "w"))  # noqa: SIM115
    # One pass of every sweep: the school leaves them nothing to do (so the run measures only what happens during
    # it), and /healthz is healthy from the start.
    worked = {name: dict(counts) for name, counts in run_sweeps(timezone.now(), runner="fill").items() if counts}
    return {
        "students": STUDENTS,
        "meetings": Meeting.objects.count(),
        "bookings": Booking.objects.count(),
        "today": len(today),
        "first_entry_until": (peak + dt.timedelta(minutes=10)).isoformat(),
        "sweeps_found": worked,
        "seconds": round(time.perf_counter() - started, 1),
    }


def schedule_due(count: int, first_second: float, last_second: float, out: Path) -> dict:
    """``count`` classes (3 students each) starting at random moments from ``first_second`` to ``last_second`` from
    now, with their rooms made: the clock must open them while wrk runs. Their ids go to ``out``."""
    school = SimpleNamespace(
        teachers=list(Teacher.objects.order_by("pk")[:20]),
        course=Course.objects.get(title="Benchmark Course"),
        student_ids=list(Student.objects.order_by("pk").values_list("pk", flat=True)),
    )
    now = timezone.now()
    rng = random.Random(5)
    starts = sorted(now + dt.timedelta(seconds=rng.uniform(first_second, last_second)) for _ in range(count))
    ids = data.burst(school, starts=starts, students_each=3, now=now, duration=dt.timedelta(minutes=30))
    Meeting.objects.filter(pk__in=ids).update(policy_id=policies.current(now).version)
    out.write_text(json.dumps(ids))
    return {"due": len(ids), "first": starts[0].isoformat(), "last": starts[-1].isoformat()}


def check(ids_file: Path, since: dt.datetime, deadline: dt.datetime) -> dict:
    """The due classes' open lateness and the delivery of what their openings wrote, once they are all opened and
    delivered (or at ``deadline``); and every message the outbox delivered since ``since``."""
    ids = json.loads(ids_file.read_text())
    meetings = Meeting.objects.filter(pk__in=ids)
    messages = Notification.objects.filter(meeting_id__in=ids)
    while timezone.now() < deadline:
        if not meetings.filter(opened_at__isnull=True).exists() and not messages.exclude(state="sent").exists():
            break
        time.sleep(1)
    lateness = [
        (o - s).total_seconds() for o, s in meetings.exclude(opened_at=None).values_list("opened_at", "start_time")
    ]
    delays = [(s - c).total_seconds() for s, c in messages.exclude(sent_at=None).values_list("sent_at", "created_at")]
    return {
        "due": len(ids),
        "not_opened": len(ids) - len(lateness),
        "lateness_p50": percentile(lateness, 50),
        "lateness_p99": percentile(lateness, 99),
        "lateness_max": max(lateness, default=None),
        "messages": messages.count(),
        "messages_not_sent": messages.exclude(state="sent").count(),
        "delivery_p99": percentile(delays, 99),
        "delivered_during_run": Notification.objects.filter(sent_at__gte=since).count(),
    }


# --- the driver: run_h1 (in bench.run's process) ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _child(args: list[str], env: dict, timeout: float = 600) -> dict:
    """``python -m bench.http ARGS`` on the H1 database: the JSON of its last line."""
    result = run_process(["-m", "bench.http", *args], env["DATABASE_URL"], env=env, timeout=timeout)
    return json.loads(result.stdout.strip().splitlines()[-1])


def fetch_line(port: int, line: str) -> tuple[int, dict, bytes]:
    """One request of a requests file (``path<TAB>token``) as wrk sends it; redirects are not followed."""
    path, _, token = line.partition("\t")
    headers = {"X-Forwarded-Proto": "https", **({"Authorization": f"Token {token}"} if token else {})}
    return fetch(f"http://127.0.0.1:{port}{path}", headers)


def wait_until(ready, *, seconds: float, what: str, processes) -> None:
    deadline = time.monotonic() + seconds
    while True:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: {process.args[2:]} exited with {process.returncode}")
        with contextlib.suppress(OSError, ValueError):
            if ready():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {seconds} s")
        time.sleep(0.3)


def _cluster_alive(port: int) -> bool:
    status, _, body = fetch_line(port, "/healthz\t")
    return status == 200 and json.loads(body)["cluster"] == "alive"


def sample(port: int, key: str, line: str, expected: int) -> None:
    """The first request of each file answers what it should before it is timed (a refused join would be fast)."""
    status, headers, body = fetch_line(port, line)
    ok = status == expected
    if key == "list":
        ok = ok and json.loads(body)["count"] > 0
    elif key == "join_api":
        ok = ok and json.loads(body)["role"] == "student"
    elif key == "join_link":
        ok = ok and "/rooms/" in headers.get("Location", "")
    if not ok:
        raise RuntimeError(f"H1 {key}: {line.partition(chr(9))[0]} answered {status}, not {expected}: {body[:300]!r}")


def parse_wrk(output: str) -> dict:
    """bench/http.lua's H1RESULT line: requests/s, p50 and p99 in ms, and every kind of error wrk counts (a status
    other than 2xx/3xx, a timeout, a connection refused or cut)."""
    line = next(line for line in output.splitlines() if line.startswith("H1RESULT "))
    raw = json.loads(line.removeprefix("H1RESULT "))
    errors = sum(raw[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "error_kinds": {kind: raw[kind] for kind in ("connect", "read", "write", "status", "timeout") if raw[kind]},
    }


def run_wrk(port: int, requests_file: Path, seconds: int) -> dict:
    result = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            f"--timeout={WRK_TIMEOUT}",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}",
            "--",
            str(requests_file),
            str(THREADS),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-2000:]}")
    return parse_wrk(result.stdout)


def _targets(runs: dict, clock: dict) -> list[dict]:
    targets = []

    def target(name, value, goal, ok):
        targets.append({"target": name, "value": value, "goal": goal, "result": "PASS" if ok else "MISS"})

    floor = runs["floor"]
    for key, what, _, _ in ENDPOINTS:
        run = runs[key]
        if key in TARGETS:
            rps, p99 = TARGETS[key]
            target(f"H1 {what} req/s", f"{run['rps']:,.0f}", f">= {rps}", run["rps"] >= rps)
            target(f"H1 {what} p99", f"{run['p99_ms']:.1f} ms", f"<= {p99} ms", run["p99_ms"] <= p99)
        target(f"H1 {what} errors", run["errors"], "0", run["errors"] == 0)
        if key != "floor":
            times = floor["rps"] / run["rps"]
            target(
                f"H1 {what} vs floor", f"x{times:.2f} the floor's time", f"<= x{FLOOR_FACTOR}", times <= FLOOR_FACTOR
            )
    late = clock["lateness_p99"]
    target(
        "H1 clock: p99 open lateness",
        f"{late:.2f} s, {clock['not_opened']} of {clock['due']} not opened" if late is not None else "none opened",
        f"<= {LATENESS_P99_SECONDS} s, all opened",
        late is not None and late <= LATENESS_P99_SECONDS and clock["not_opened"] == 0,
    )
    delay = clock["delivery_p99"]
    target(
        "H1 outbox: delivered during the run",
        f"{clock['delivered_during_run']} sent, {clock['messages_not_sent']} of {clock['messages']} left, "
        f"p99 delay {delay if delay is None else round(delay, 2)} s",
        f"all sent, p99 <= {DELIVERY_P99_SECONDS} s",
        clock["messages"] > 0
        and clock["messages_not_sent"] == 0
        and delay is not None
        and delay <= DELIVERY_P99_SECONDS,
    )
    return targets


def _measure(report, env: dict, directory: Path, filled: dict) -> tuple[dict, dict]:
    """Start gunicorn and the cluster, time each endpoint, check the clock and the outbox; stop them."""
    port = free_port()
    processes = []
    try:
        gunicorn = ["-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)]
        processes.append(start_group(gunicorn, env, directory / "gunicorn.log"))
        processes.append(start_group(["manage.py", "qcluster"], env, directory / "qcluster.log"))
        floor_line = f"{FLOOR_PATH}\t"
        wait_until(
            lambda: fetch_line(port, floor_line)[0] == 200, seconds=60, what="gunicorn answers", processes=processes
        )
        wait_until(lambda: _cluster_alive(port), seconds=120, what="the cluster's clock beats", processes=processes)
        planned = len(ENDPOINTS) * (WARM_UP_SECONDS + SECONDS + 1)
        until = dt.datetime.fromisoformat(filled["first_entry_until"])
        if (until - timezone.now()).total_seconds() < planned + 30:
            raise RuntimeError(f"H1: the students' first-entry window ends at {until}, before the run would")
        since = timezone.now()
        due = _child(["due", str(DUE_CLASSES), "5", str(planned), str(directory / "due.json")], env)
        runs = {}
        for key, what, file, expected in ENDPOINTS:
            lines = (directory / file).read_text().splitlines()
            sample(port, key, lines[0], expected)
            run_wrk(port, directory / file, WARM_UP_SECONDS)  # the workers' first requests, the policy cache, ...
            runs[key] = run = run_wrk(port, directory / file, SECONDS)
            report.add(
                "H1 " + what,
                f"{len(lines):,} distinct" if len(lines) > 1 else "one URL",
                [run["rps"]],
                unit="req/s",
                p50_ms=round(run["p50_ms"], 1),
                p99_ms=round(run["p99_ms"], 1),
                errors=run["errors"],
                **run["error_kinds"],  # which: status (not 2xx/3xx), timeout (> 2 s), connect, read, write
                floor_x=round(runs["floor"]["rps"] / run["rps"], 2),
            )
        deadline = dt.datetime.fromisoformat(due["last"]) + dt.timedelta(seconds=60)
        clock = _child(["check", str(directory / "due.json"), since.isoformat(), deadline.isoformat()], env)
        report.add(
            f"H1 clock during the run ({clock['due']} starts)",
            "opened_at - start_time",
            [clock["lateness_p50"] or 0.0],
            p99=clock["lateness_p99"],
            not_opened=clock["not_opened"],
            delivered=clock["delivered_during_run"],
            delivery_p99=clock["delivery_p99"],
        )
        return runs, clock
    except Exception:
        for log in ("gunicorn.log", "qcluster.log"):
            with contextlib.suppress(OSError):
                print(f"--- last lines of {log}\n" + (directory / log).read_text()[-2000:], file=sys.stderr)
        raise
    finally:
        stop_groups(processes)


def run_h1(report, *, database_url: str, **_) -> dict:
    """H1 on its own database beside ``database_url``'s; rows go to ``report``. Returns the targets and the summary
    line (the join-link clicks per second)."""
    print(f"\nH1: HTTP under load (gunicorn {WORKERS} workers, wrk {THREADS} threads x {CONNECTIONS} connections)")
    if shutil.which("wrk") is None:
        message = "H1 skipped: wrk is not installed (apt-get install -y wrk)"
        print(f"  {message}", flush=True)
        skipped = {"target": "H1", "value": "-", "goal": "wrk installed", "result": "SKIP"}
        return {"targets": [skipped], "summary": message}
    with throwaway_database(database_url) as (url, name), tempfile.TemporaryDirectory(prefix="h1-") as tmp:
        env = h1_environment(url)
        filled = _child(["fill", tmp], env)
        print(
            f"  filled {name}: {filled['students']:,} students with tokens, {filled['meetings']:,} classes "
            f"({filled['today']} today, in the peak), {filled['bookings']:,} bookings in {filled['seconds']} s",
            flush=True,
        )
        runs, clock = _measure(report, env, Path(tmp), filled)
    targets = _targets(runs, clock)
    print("\nTargets H1 (measured on a shared machine: pessimistic)")
    for t in targets:
        print(f"  {t['result']}  {t['target']:<48} {t['value']:<44} goal {t['goal']}")
    clicks = runs["join_link"]
    summary = f"H1 join-link clicks: {clicks['rps']:.0f} requests/s (p99 {clicks['p99_ms']:.0f} ms)"
    return {"targets": targets, "summary": summary}


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "fill":
        result = fill(Path(args[0]))
    elif command == "due":
        result = schedule_due(int(args[0]), float(args[1]), float(args[2]), Path(args[3]))
    elif command == "check":
        since, deadline = (dt.datetime.fromisoformat(value) for value in args[1:3])
        result = check(Path(args[0]), since, deadline)
    else:
        raise SystemExit(f"unknown command {command!r}: fill, due or check")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
