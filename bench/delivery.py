"""Delivery at LINE's real round trip (issue 18): B4b, B4c and the delivery worker's memory and connections.

Each case runs the LINE fake in its own process (``python -m integrations.line.fake --latency-ms 100 --jitter-ms 20
[--rate-limit N]``, so its work does not share our interpreter) and a delivery worker in another
(``bench.delivery_process``), and counts what the fake accepted (``/fake/stats``): duplicates and lost messages are
the fake's counts, not ours. The database connections of the worker are counted from ``pg_stat_activity`` while it
runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import psycopg
from django.db import connection

from bench import data
from bench.process import ROOT
from integrations.line.models import LineChannel, LineContact
from notifications.models import Notification

TOKEN, SECRET = "bench-token", "bench-secret"
PER_CLASS = 10
# LINE_MAX_CONCURRENCY for the concurrent runs: ~1,000 calls a second at a 100 ms round trip need ~100 in flight;
# twice that leaves room for the client's own time per call.
CONCURRENCY = 128
# Delivery worker processes for the concurrent runs: two, as the delivery clocks of two clusters (each process's
# database work, claim, pin and store, then overlaps the other's calls).
PROCESSES = 2
PUSH_RATE = 1600  # LINE_PUSH_RATE_PER_SECOND's default: the whole channel's cap, shared by the processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeProcess:
    """The LINE fake in its own process; ``stats()`` reads what it accepted."""

    def __init__(self, *, latency_ms=100, jitter_ms=20, rate_limit=0):
        self.port = free_port()
        args = ["--port", str(self.port), "--token", TOKEN, "--secret", SECRET]
        args += ["--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms), "--rate-limit", str(rate_limit)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "integrations.line.fake", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.stats()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the LINE fake did not start within 30 s") from None
                time.sleep(0.1)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=60) as answer:
            return json.loads(answer.read())

    def stats(self) -> dict:
        return self.get("/fake/stats")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ConnectionCounter:
    """The most connections to the benchmark database seen while it runs, beyond those open when it started (the
    benchmark's own), polled every 50 ms from a connection to another database."""

    def __init__(self, admin_url: str, database: str):
        self.admin_url, self.database = admin_url, database
        self.peak, self._stop = 0, threading.Event()

    def _count(self, conn) -> int:
        # Client backends only: autovacuum workers on the busy outbox table show up under the database too.
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
        return conn.execute(query, [self.database]).fetchone()[0]

    def __enter__(self):
        self._conn = psycopg.connect(self.admin_url, autocommit=True)
        self.baseline = self._count(self._conn)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._count(self._conn) - self.baseline)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


def line_channel(slug: str, school: data.School, now) -> LineChannel:
    channel = LineChannel.objects.create(
        name=f"Bench {slug}", slug=slug, channel_id=slug, channel_secret=SECRET, access_token=TOKEN
    )
    first = data.next_id(LineContact)
    data.Copier(LineContact).copy(
        {
            "id": first + i,
            "line_channel_id": channel.pk,
            "line_user_id": f"U{pk:032x}",
            "student_id": pk,
            "role": "student",
            "following": True,
            "linked_at": now,
            "created_at": now,
        }
        for i, pk in enumerate(school.student_ids)
    )
    data.fix_sequences(LineContact)
    return channel


def personal_links(school: data.School, channel: LineChannel, count: int, now) -> tuple[int, int]:
    """``count`` pending join links, each personal (its own signed URL, so its own push), for classes of
    PER_CLASS students. Returns the (first, last) meeting id."""
    meetings = data.burst(
        school, starts=[now + dt.timedelta(minutes=10)] * (count // PER_CLASS), students_each=0, now=now
    )
    first = data.next_id(Notification)
    pool = school.student_ids

    def rows():
        n = 0
        for m, mid in enumerate(meetings):
            for k in range(PER_CLASS):
                student = pool[(m * PER_CLASS + k) % len(pool)]
                url = f"https://school.example/j/{secrets.token_urlsafe(24)}/"
                payload = {"text": f"Join class {mid} (student {student}): {url}", "url": url}
                yield {
                    "id": first + n,
                    "dedupe_key": f"join_link:{mid}:student:{student}",
                    "kind": "join_link",
                    "channel": "line",
                    "meeting_id": mid,
                    "student_id": student,
                    "address": f"U{student:032x}",
                    "line_channel_id": channel.pk,
                    "payload": payload,
                    "payload_hash": hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest(),
                    "next_attempt_at": now,
                    "retry_key": uuid.uuid4(),
                    "created_at": now,
                }
                n += 1

    data.Copier(Notification).copy(rows())
    data.fix_sequences(Notification)
    return meetings[0], meetings[-1]


def workers(
    meetings: tuple[int, int], fake: FakeProcess, ctx, *, concurrency: int, processes: int = 1, timeout: float = 240
) -> dict:
    """Run ``processes`` delivery worker processes together over the rows of ``meetings`` (they share the outbox
    through the claim); the run's seconds (from their common start to the last one's end), the most RSS and the
    most database connections any one of them had."""
    env = {
        **os.environ,
        "DATABASE_URL": ctx.database_url,
        "NOTIFICATION_CHANNEL": "live",
        "LINE_API_BASE_URL": fake.url,
        "LINE_MAX_CONCURRENCY": str(concurrency),
        # The channel's limit is shared: each process gets its part (README "Delivery at scale").
        "LINE_PUSH_RATE_PER_SECOND": str(PUSH_RATE // processes),
        "DELIVERY_PASS_SECONDS": "600",
        "LOG_LEVEL": "WARNING",
    }
    start_at = time.time() + 4  # after every process's start-up (Django, ~1-2 s)
    args = [str(meetings[0]), str(meetings[1]), str(timeout), str(start_at)]
    with ConnectionCounter(ctx.admin_url, ctx.database_name) as connections_seen:
        running = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.delivery_process", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            for _ in range(processes)
        ]
        outputs = []
        try:
            for process in running:
                out, err = process.communicate(timeout=timeout + 60)
                if process.returncode:
                    raise RuntimeError(f"delivery worker failed: {err[-2000:]}")
                outputs.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
    return {
        "seconds": max(o["ended_at"] for o in outputs) - start_at,
        "peak_rss_kb": max(o["peak_rss_kb"] for o in outputs),
        "cpu_seconds": round(sum(o["cpu_seconds"] for o in outputs), 2),
        "phases": [o["phases"] for o in outputs],
        "sent_by": [o["counts"].get("sent", 0) for o in outputs],
        # Per process: the poll sees them all at once.
        "connections": connections_seen.peak / processes,
    }


def states(meetings: tuple[int, int]) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT state, count(*) FROM notifications_notification WHERE meeting_id BETWEEN %s AND %s GROUP BY 1",
            list(meetings),
        )
        return dict(cursor.fetchall())


def delivery_at_latency(report, ctx, *, case: str, count: int, rate_limit: int = 0, sequential: int = 500) -> dict:
    """``count`` personal links to the fake at 100 ms +- 20 ms: ours (PROCESSES workers, LINE_MAX_CONCURRENCY=
    CONCURRENCY each) and the sequential sweep (one worker, LINE_MAX_CONCURRENCY=1) on ``sequential`` of them, both
    in this run; then the fake's counts."""
    now = dt.datetime.now(dt.UTC)
    channel = line_channel(f"{case.lower()}-{secrets.token_hex(3)}", ctx.school, now)
    out: dict = {}
    with FakeProcess(rate_limit=rate_limit) as fake:
        if sequential:
            small = personal_links(ctx.school, channel, sequential, now)
            seq = workers(small, fake, ctx, concurrency=1)
            assert states(small) == {"sent": sequential}, states(small)
            out["sequential_per_s"] = sequential / seq["seconds"]
            report.add(
                f"{case} sequential sweep ({sequential} links)",
                "LINE_MAX_CONCURRENCY=1",
                [seq["seconds"]],
                messages_per_s=round(out["sequential_per_s"], 1),
            )
        before = fake.stats()
        meetings = personal_links(ctx.school, channel, count, now)
        ours = workers(meetings, fake, ctx, concurrency=CONCURRENCY, processes=PROCESSES)
        after = fake.stats()
    stored = states(meetings)
    accepted = after["accepted_messages"] - before["accepted_messages"]
    out.update(
        messages_per_s=count / ours["seconds"],
        sent=stored.get("sent", 0),
        accepted=accepted,
        lost=count - accepted,
        duplicates=after["duplicates"],
        not_sent=count - stored.get("sent", 0),
        rate_limited=after["rate_limited"] - before["rate_limited"],
        peak_rss_mb=ours["peak_rss_kb"] / 1024,
        connections=ours["connections"],
    )
    report.add(
        f"{case} {count:,} personal links" + (f", limit {rate_limit}/s" if rate_limit else ""),
        f"ours, {PROCESSES} x {CONCURRENCY} threads",
        [ours["seconds"]],
        messages_per_s=round(out["messages_per_s"]),
        accepted=accepted,
        duplicates=out["duplicates"],
        lost=out["lost"],
        not_sent=out["not_sent"],
        got_429=out["rate_limited"],
        peak_rss_mb=round(out["peak_rss_mb"], 1),
        db_connections=out["connections"],
        worker_cpu_s=ours["cpu_seconds"],
        sent_by=ours["sent_by"],
        phases=ours["phases"],
    )
    return out
