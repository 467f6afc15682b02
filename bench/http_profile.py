"""Where H1's time goes: its requests replayed in process, under cProfile (issue 22's profiles).

The production settings and the WSGI handler gunicorn runs (``bench.http_settings``, H1's environment), on a
database filled as H1 fills its own (``bench.http.fill``), without the sockets: what is left is the Python and the
queries of each request. For each requests file it prints the functions that took the most time (with what they
call), the queries of one request and one process's requests per second::

    python -m bench.http_profile [--requests N] [list.tsv join_link.tsv ...]

Its database (``<DATABASE_URL's name>_profile``, on the same server) is dropped at the end. The join links are
clicked inside their window: a fill's links are only good for its first ten minutes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import django
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, reset_queries
from django.test.client import RequestFactory

from bench.http_env import h1_environment, throwaway_database
from bench.process import run_process

FILES = ("list.tsv", "join_link.tsv", "join_api.tsv", "healthz.tsv", "floor.tsv")


def replay(file: Path, count: int, top: int) -> dict:
    """In a child with H1's environment: ``count`` requests of ``file`` under cProfile; the profile is printed."""
    django.setup()  # (the child's settings: H1's environment, from the driver)
    handler, factory = WSGIHandler(), RequestFactory()
    requests = [line.split("\t") for line in file.read_text().splitlines() if line]

    def one(n: int) -> None:
        path, token = requests[n % len(requests)]
        headers = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "127.0.0.1"}
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Token {token}"
        status = []
        body = b"".join(handler(factory.get(path, **headers).environ, lambda s, *_: status.append(s)))
        if not status[0].startswith(("200", "302")):
            raise SystemExit(f"{path}: {status[0]} {body[:300]!r}")

    for n in range(min(50, count)):  # warm: the connection, translations, URL resolvers, the policy cache
        one(n)
    connection.force_debug_cursor = True
    reset_queries()
    one(0)
    queries = [query["sql"][:160] for query in connection.queries]
    connection.force_debug_cursor = False
    started = time.perf_counter()
    for n in range(count):
        one(n)
    plain = time.perf_counter() - started
    profile = cProfile.Profile()
    profile.enable()
    for n in range(count):
        one(n)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(top)
    print(out.getvalue(), file=sys.stderr)
    return {
        "file": file.name,
        "requests": count,
        "per_second": round(count / plain),
        "ms": round(plain / count * 1000, 2),
        "queries": queries,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=list(FILES[:3]), help=f"of {', '.join(FILES)}")
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--top", type=int, default=35, help="functions shown")
    parser.add_argument("--replay", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    if args.replay:
        print(json.dumps(replay(Path(args.replay), args.requests, args.top)))
        return
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/classroom")
    with throwaway_database(database_url, suffix="profile") as (url, _), tempfile.TemporaryDirectory() as directory:
        env = h1_environment(url)
        run_process(["-m", "bench.http", "fill", directory], url, env=env, timeout=900)
        for file in args.files:
            child = ["-m", "bench.http_profile", "--replay", str(Path(directory) / file)]
            result = run_process([*child, "--requests", str(args.requests), "--top", str(args.top)], url, env=env)
            print(result.stderr)
            summary = json.loads(result.stdout.strip().splitlines()[-1])
            print(
                f"{file}: {summary['ms']} ms a request in one process ({summary['per_second']:,}/s without the "
                f"profiler), {len(summary['queries'])} queries:"
            )
            for sql in summary["queries"]:
                print(f"  {sql}")


if __name__ == "__main__":
    main(sys.argv[1:])
