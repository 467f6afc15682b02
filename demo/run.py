"""``make run``: prepare the demo, then run the web server and the django-q2 cluster until Ctrl-C.

    python -m demo.run [--host 127.0.0.1] [--port 8000]

Why a supervisor rather than ``trap 'kill 0'`` and shell background jobs: a job started with ``&`` in a
non-interactive shell ignores SIGINT, so Ctrl-C reached neither child (runserver kept answering, qcluster took its
90 s to stop) and a second Ctrl-C hit only the shell. Here each child runs in its own process group (qcluster's
worker processes with it), out of reach of the terminal's Ctrl-C; on SIGINT or SIGTERM this process forwards the
signal to each group, waits ``STOP_GRACE_SECONDS``, then kills whatever is left. A child that exits on its own
stops the other too.

``PUBLIC_BASE_URL`` (the address join, feedback and room links are built on) follows ``--host``/``--port`` unless
it is set, for every command started here: the migration, ``seed_demo``, the server and the cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

STOP_GRACE_SECONDS = 3.0
# Addresses a server listens on but a browser cannot be sent to: links use the loopback address instead.
_WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]", ""}


def public_base_url(environ: dict[str, str], host: str, port: int | str) -> str:
    """The ``PUBLIC_BASE_URL`` the demo runs with: the one set in the environment, else the server's own address."""
    if environ.get("PUBLIC_BASE_URL"):
        return environ["PUBLIC_BASE_URL"]
    shown = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 address in a URL
    return f"http://{shown}:{port}"


def demo_environ(environ: dict[str, str], host: str, port: int | str) -> dict[str, str]:
    """The environment every command of the demo runs with: the development settings and the public address."""
    env = dict(environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_dev")
    env["PUBLIC_BASE_URL"] = public_base_url(env, host, port)
    return env


def _alive(process: subprocess.Popen) -> bool:
    return process.poll() is None


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(process.pid, signum)


def stop(children: list[subprocess.Popen], signum: int = signal.SIGINT, grace: float = STOP_GRACE_SECONDS) -> None:
    """Send ``signum`` to every child's group, wait up to ``grace`` seconds, then SIGKILL the groups still there."""
    for child in children:
        _signal_group(child, signum)
    deadline = time.monotonic() + grace
    while any(_alive(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    for child in children:
        # Also when the leader exited: its group may still hold workers (qcluster's pool) that did not.
        _signal_group(child, signal.SIGKILL)
        child.wait()


def supervise(
    commands: list[list[str]], *, env: dict[str, str] | None = None, grace: float = STOP_GRACE_SECONDS
) -> int:
    """Run ``commands`` side by side, each in its own process group, until a signal or until one of them exits.

    Returns the exit status for this process: 0 after SIGINT/SIGTERM, else the status of the child that exited first.
    """
    received: list[int] = []

    def on_signal(signum, frame):
        received.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    children: list[subprocess.Popen] = []
    try:
        for command in commands:
            children.append(subprocess.Popen(command, env=env, process_group=0))
            print(f"started pid {children[-1].pid}: {' '.join(command)}", flush=True)
        while not received and all(_alive(child) for child in children):
            time.sleep(0.1)
        first_exit = next((child.returncode for child in children if not _alive(child)), 0)
        stop(children, received[0] if received else signal.SIGTERM, grace)
        print("stopped", flush=True)
        return 0 if received else (first_exit or 1)
    finally:
        if any(_alive(child) for child in children):  # an error above: leave nothing behind
            stop(children, signal.SIGKILL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-setup", action="store_true", help="skip migrate, seed_demo and setup_schedules")
    args = parser.parse_args(argv)

    env = demo_environ(os.environ, args.host, args.port)
    manage = [sys.executable, "manage.py"]
    if not args.no_setup:
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True)
        # Quiet: it plays the past classes through the sweeps, which would log every message they "send".
        subprocess.run([*manage, "seed_demo"], env={**env, "LOG_LEVEL": "WARNING"}, check=True)
        subprocess.run([*manage, "setup_schedules"], env=env, check=True)
    address = f"{args.host}:{args.port}"
    print(
        f"Starting the web server at http://{address}/ (links: {env['PUBLIC_BASE_URL']}) and the django-q2 cluster "
        "(Ctrl-C stops both)",
        flush=True,
    )
    return supervise([[*manage, "qcluster"], [*manage, "runserver", "--noreload", address]], env=env)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
    except KeyboardInterrupt:  # Ctrl-C during the set-up steps
        sys.exit(130)
