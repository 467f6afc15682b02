"""``make run``'s supervisor (demo/run.py): Ctrl-C stops the web server and the cluster, and links follow the port.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group; each test starts the supervisor in a group
of its own and signals that group, as the terminal would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from demo.run import demo_environ, public_base_url

ROOT = Path(__file__).resolve().parents[2]
STOP_LIMIT_SECONDS = 5.0


def _gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for its parent (it runs no more)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            members.append(int(entry.name))
    return members


def _started_pids(supervisor: subprocess.Popen, count: int, timeout: float) -> list[int]:
    """The children's pids, from the supervisor's "started pid N: ..." lines (other lines are passed over)."""
    pids = []
    deadline = time.monotonic() + timeout
    while len(pids) < count:
        assert time.monotonic() < deadline, "the supervisor did not start its children in time"
        line = supervisor.stdout.readline()
        assert line, f"the supervisor ended early with {supervisor.wait()}"
        if line.startswith("started pid "):
            pids.append(int(line.split()[2].rstrip(":")))
    return pids


def _interrupt_and_time(supervisor: subprocess.Popen, groups: list[int]) -> float:
    """Ctrl-C (SIGINT to the supervisor's group); seconds until the supervisor and every child's group are gone."""
    started = time.monotonic()
    os.killpg(supervisor.pid, signal.SIGINT)
    supervisor.wait(timeout=STOP_LIMIT_SECONDS + 5)
    while any(_group_members(group) for group in groups) and time.monotonic() - started < STOP_LIMIT_SECONDS + 5:
        time.sleep(0.05)
    return time.monotonic() - started


def _kill_everything(supervisor: subprocess.Popen, groups: list[int]) -> None:
    for pgid in [supervisor.pid, *groups]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    supervisor.wait()


# A stand-in for qcluster: ignores SIGINT (as a busy worker pool may) and has a worker in its group; only the
# supervisor's SIGKILL after the grace ends it.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
ignore = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
worker = subprocess.Popen([sys.executable, "-c", ignore])
print(f"worker {worker.pid}", flush=True)
time.sleep(600)
"""
# A stand-in for runserver: stops on SIGINT.
POLITE = "import time; time.sleep(600)"


def test_ctrl_c_stops_every_child_and_their_workers_within_five_seconds():
    script = (
        "import sys; from demo.run import supervise; "
        f"sys.exit(supervise([[sys.executable, '-c', {STUBBORN!r}], [sys.executable, '-c', {POLITE!r}]], grace=2))"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True, process_group=0
    )
    groups = []
    try:
        groups = _started_pids(supervisor, 2, timeout=20)
        worker = None
        while worker is None:
            line = supervisor.stdout.readline()
            if line.startswith("worker "):
                worker = int(line.split()[1])
        assert all(_group_members(group) for group in groups)

        elapsed = _interrupt_and_time(supervisor, groups)

        assert elapsed < STOP_LIMIT_SECONDS
        assert supervisor.returncode == 0
        assert all(_gone(pid) for pid in [*groups, worker])
    finally:
        _kill_everything(supervisor, groups)


def test_sigterm_stops_them_too():
    script = f"import sys; from demo.run import supervise; sys.exit(supervise([[sys.executable, '-c', {POLITE!r}]]))"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True, process_group=0
    )
    groups = []
    try:
        groups = _started_pids(supervisor, 1, timeout=20)
        started = time.monotonic()
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=STOP_LIMIT_SECONDS) == 0
        assert time.monotonic() - started < STOP_LIMIT_SECONDS and _gone(groups[0])
    finally:
        _kill_everything(supervisor, groups)


def test_a_child_that_dies_stops_the_other_and_the_supervisor_reports_it():
    script = (
        "import sys; from demo.run import supervise; "
        f"sys.exit(supervise([[sys.executable, '-c', 'import sys; sys.exit(3)'], [sys.executable, '-c', {POLITE!r}]]))"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True, process_group=0
    )
    groups = []
    try:
        groups = _started_pids(supervisor, 2, timeout=20)
        assert supervisor.wait(timeout=STOP_LIMIT_SECONDS + 5) == 3
        assert all(_gone(pid) for pid in groups)
    finally:
        _kill_everything(supervisor, groups)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_make_run_with_the_real_server_and_cluster_stops_on_ctrl_c(tmp_path):
    """The real thing: migrate, seed_demo, setup_schedules, then runserver and qcluster on a fresh SQLite file.
    The admin line is printed on the chosen port; /healthz answers; one Ctrl-C ends everything within 5 s."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "Q_WORKERS": "1"}
    env.pop("PUBLIC_BASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "demo.run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        process_group=0,
    )
    groups, printed = [], []
    try:
        deadline = time.monotonic() + 60
        while len(groups) < 2:
            assert time.monotonic() < deadline
            line = supervisor.stdout.readline()
            assert line, f"make run ended early with {supervisor.wait()}: {printed}"
            printed.append(line)
            if line.startswith("started pid "):
                groups.append(int(line.split()[2].rstrip(":")))
        assert f"Admin: http://127.0.0.1:{port}/admin/  login: admin / admin\n" in printed
        body = None
        while body is None:
            assert time.monotonic() < deadline, "the web server never answered"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.load(response)
            except urllib.error.HTTPError as answer:  # 503 until the cluster's first sweep
                body = json.load(answer)
            except OSError:
                time.sleep(0.2)
        assert body["database"] == "ok"
        assert all(_group_members(group) for group in groups)

        elapsed = _interrupt_and_time(supervisor, groups)

        assert elapsed < STOP_LIMIT_SECONDS
        assert not any(_group_members(group) for group in groups)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        _kill_everything(supervisor, groups)


# --- PORT: links follow the demo's own address ------------------------------------------------------------------------


def test_public_base_url_follows_host_and_port_unless_it_is_set():
    assert public_base_url({}, "127.0.0.1", 22000) == "http://127.0.0.1:22000"
    assert public_base_url({}, "0.0.0.0", 22000) == "http://127.0.0.1:22000"  # a browser cannot go to 0.0.0.0
    assert public_base_url({}, "::1", 22000) == "http://[::1]:22000"
    assert public_base_url({"PUBLIC_BASE_URL": "https://school.example"}, "127.0.0.1", 22000) == (
        "https://school.example"
    )


def test_with_port_22000_every_link_the_demo_sends_is_on_22000():
    """Join and feedback links, the API's join URL (the local room) and the admin line, from the settings the demo's
    commands start with."""
    unset = {"PUBLIC_BASE_URL", "DJANGO_SETTINGS_MODULE", "LINE_IMAGEMAP_BASE_URL"}
    env = demo_environ({key: value for key, value in os.environ.items() if key not in unset}, "127.0.0.1", 22000)
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "from bookings.links import join_url, feedback_url; from integrations.local.provider import room_url; "
        "print(join_url(1)); print(feedback_url(1)); print(room_url('class-1')); "
        "print(settings.PUBLIC_BASE_URL + '/admin/'); print(settings.LINE_IMAGEMAP_BASE_URL)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    lines = done.stdout.split()
    assert len(lines) == 5
    assert all(line.startswith("http://127.0.0.1:22000/") for line in lines), lines
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings_dev"
