"""What the benchmark cases share that needs no Django: the project's root, running a process against the benchmark
database, starting and stopping long-running servers, and timing a call."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


def start_group(args: list[str], env: dict, log: Path | None = None, *, cwd: Path = ROOT) -> subprocess.Popen:
    """``python ARGS`` in a process group of its own (gunicorn, qcluster), output to ``log`` (else discarded):
    :func:`stop_groups` ends the whole group, the workers it forked included. ``cwd``: another checkout's code."""
    with log.open("ab") if log else contextlib.nullcontext(subprocess.DEVNULL) as output:
        return subprocess.Popen(
            [sys.executable, *args], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, process_group=0
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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, headers: dict, timeout: float = 10) -> tuple[int, dict, bytes]:
    """GET ``url``: (status, headers, body), redirects not followed (a redirect is the answer being checked)."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as answer:
        return answer.code, dict(answer.headers), answer.read()


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result
