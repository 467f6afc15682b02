"""What the benchmark cases share that needs no Django: the project's root, running a process against the benchmark
database, starting and stopping long-running servers, and timing a call."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_process(
    args: list[str], database_url: str, *, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """``python ARGS`` on ``database_url``; a failure raises with the child's own error output in the message."""
    env = {**(os.environ if env is None else env), "DATABASE_URL": database_url}
    try:
        return subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True, **kwargs
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{' '.join(args)} failed ({exc.returncode}):\n{exc.stderr[-3000:]}") from exc


def start_group(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """``python ARGS`` in a process group of its own (gunicorn, qcluster), output to ``log``: :func:`stop_groups`
    ends the whole group, the workers it forked included."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, process_group=0
        )


def stop_groups(processes: list[subprocess.Popen], grace: float = 10) -> None:
    """SIGTERM each process's group (gunicorn and qcluster stop their workers cleanly), SIGKILL what is left."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(process.poll() is None for process in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result
