"""This checkout's gunicorn beside another checkout's, on one H1 database, timed in turn: a change's effect under load.

H1's own figures move by a third from one run to the next on this 2-core machine (the same commit read 508 and then
760 join-link clicks/s, 2026-12-01), more than most changes. Here both servers run at once with H1's settings and
workers, and wrk (as H1 runs it, without the cluster) times them in turn, this one then the other, ``--rounds``
times per requests file; the ratio is taken round by round, so the machine's drift cancels out::

    git worktree add /tmp/before main
    python -m bench.http_pair /tmp/before [--rounds 5] [--seconds 5] [join_link.tsv list.tsv join_api.tsv ...]

The database is filled and migrated by this checkout (``<DATABASE_URL's name>_pair``, dropped at the end): the other
one must read the same schema. The join links are good for the fill's first ten minutes, which bounds the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import django

from bench.http_env import h1_environment, throwaway_database
from bench.process import ROOT, run_process, start_group, stop_groups

FILES = ("join_link.tsv", "list.tsv", "join_api.tsv")
THIS, OTHER = "this", "other"


def summary(runs: dict[str, list[dict]]) -> dict:
    """Both servers' runs of one file (``parse_wrk``'s dicts, in round order): their medians and the ratio this/other
    of requests/s, round by round (its median, min and max)."""
    ratios = [mine["rps"] / theirs["rps"] for mine, theirs in zip(runs[THIS], runs[OTHER], strict=True)]
    median = {side: {k: statistics.median(run[k] for run in runs[side]) for k in ("rps", "p99_ms")} for side in runs}
    return {
        "this": median[THIS],
        "other": median[OTHER],
        "ratio": statistics.median(ratios),
        "ratio_range": (min(ratios), max(ratios)),
        "errors": {side: sum(run["errors"] for run in runs[side]) for side in runs},
    }


def compare(other: Path, files: list[str], rounds: int, seconds: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_dev")  # (as `make bench`)
    django.setup()
    # bench.http imports the apps' models: only once Django is set up.
    from bench import http

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/classroom")
    with throwaway_database(database_url, suffix="pair") as (url, _), tempfile.TemporaryDirectory() as directory:
        env = h1_environment(url)
        result = run_process(["-m", "bench.http", "fill", directory], url, env=env, timeout=900)
        until = dt.datetime.fromisoformat(json.loads(result.stdout.strip().splitlines()[-1])["first_entry_until"])
        processes, ports = [], {}
        try:
            for side, root in ((THIS, ROOT), (OTHER, other)):
                ports[side] = port = http.free_port()
                gunicorn = ["-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
                log = Path(directory) / f"gunicorn-{side}.log"
                processes.append(start_group([*gunicorn, "--workers", str(http.WORKERS)], env, log, cwd=root))
            floor = f"{http.FLOOR_PATH}\t"
            for port in ports.values():
                http.wait_until(
                    lambda p=port: http.fetch_line(p, floor)[0] == 200,
                    seconds=60,
                    what="gunicorn answers",
                    processes=processes,
                )
            print(f"this: {ROOT}  other: {other}  ({rounds} rounds of {seconds} s per file, in turn)")
            for file in files:
                key, _, _, expected = next(endpoint for endpoint in http.ENDPOINTS if endpoint[2] == file)
                path = Path(directory) / file
                if key == "join_link" and dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2 * rounds * seconds) > until:
                    raise SystemExit(f"{file}: the links' window ends at {until}, before the runs would")
                runs = {THIS: [], OTHER: []}
                for port in ports.values():
                    http.sample(port, key, path.read_text().splitlines()[0], expected)
                    http.run_wrk(port, path, http.WARM_UP_SECONDS)
                for _ in range(rounds):
                    for side, port in ports.items():
                        runs[side].append(http.run_wrk(port, path, seconds))
                each = summary(runs)
                low, high = each["ratio_range"]
                print(
                    f"  {file:<14} this {each['this']['rps']:,.0f} req/s (p99 {each['this']['p99_ms']:.0f} ms)  "
                    f"other {each['other']['rps']:,.0f} req/s (p99 {each['other']['p99_ms']:.0f} ms)  "
                    f"this/other x{each['ratio']:.2f} (rounds x{low:.2f}-x{high:.2f})  errors {each['errors']}",
                    flush=True,
                )
        finally:
            stop_groups(processes)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_pair", description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (a git worktree of the commit to compare)")
    parser.add_argument("files", nargs="*", default=list(FILES), help=f"of {', '.join(FILES)}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args(argv)
    if not (args.other / "manage.py").is_file():
        parser.error(f"{args.other} is not a checkout of this project (no manage.py)")
    unknown = set(args.files) - set(FILES)
    if unknown:
        parser.error(f"unknown requests file {', '.join(sorted(unknown))}: {', '.join(FILES)}")
    compare(args.other.resolve(), args.files, args.rounds, args.seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
