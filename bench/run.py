"""``make bench``: the sweeps at up to a million meetings, against a naive loop and the SQL floor.

Creates its own PostgreSQL database (from DATABASE_URL, default the local server), fills it with COPY, runs each case
several times, prints a table (median, min, max) with the targets and writes bench/results.json; drops the database.

    python -m bench.run              # 10k -> 100k -> 1M meetings, then every case
    python -m bench.run --quick      # 10k -> 100k (a laptop)
    python -m bench.run --only B4b   # one case alone (B1, B2, B3, Memory, B4a, B4b, B4c, B5, B6, H1; a comma list
                                     # runs several in order); its figure against its target is the last line
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
from django.core.management import call_command
from django.db import connections

from bench.process import ROOT

RESULTS = ROOT / "bench" / "results.json"


def database_urls(base: str) -> tuple[str, str, str]:
    """(admin url, bench url, bench db name) from DATABASE_URL (a postgres:// URL)."""
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        sys.exit(f"make bench needs PostgreSQL; DATABASE_URL is {base!r}")
    name = f"classroom_bench_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    return admin, urlunsplit(parts._replace(path=f"/{name}")), name


def admin_sql(admin_url: str, sql: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


def summary(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "runs": len(samples)}


class Report:
    def __init__(self):
        self.rows: list[dict] = []

    def add(self, case: str, variant: str, samples: list[float], unit: str = "s", **extra) -> dict:
        row = {"case": case, "variant": variant, "unit": unit, **summary(samples), **extra}
        self.rows.append(row)
        print(
            f"  {case:<34} {variant:<22} median {row['median']:>10.4f} {unit}  "
            f"(min {row['min']:.4f}, max {row['max']:.4f}, n={row['runs']}) "
            + " ".join(f"{k}={v}" for k, v in extra.items()),
            flush=True,
        )
        return row

    def find(self, case: str, variant: str) -> dict | None:
        return next((r for r in self.rows if r["case"] == case and r["variant"] == variant), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="stop at 100k meetings")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each burst case")
    parser.add_argument("--skip-lateness", action="store_true", help="skip B5 (it needs about five minutes)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--only", default="", help="run only these cases (comma-separated names, e.g. B4b)")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]

    admin_url, bench_url, name = database_urls(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    admin_sql(admin_url, f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    print(f"benchmark database {name}", flush=True)
    try:
        django.setup()
        # The cases import the apps' models, which need django.setup() (above) to have run first.
        from bench import cases

        call_command("migrate", verbosity=0)

        unknown = [name for name in only if name not in cases.CASES]
        if unknown:
            sys.exit(f"unknown case(s) {', '.join(unknown)}; the cases are {', '.join(cases.CASES)}")
        report = Report()
        ctx = cases.Context(
            report,
            quick=args.quick,
            runs=args.runs,
            lateness=not args.skip_lateness,
            database_url=bench_url,
            admin_url=admin_url,
            name=name,
        )
        lines = cases.run_all(ctx, only)
        results = ctx.targets
        results_file = RESULTS.with_name("results-only.json") if only else RESULTS  # a full run's figures stay
        results_file.write_text(
            json.dumps(
                {
                    "when": dt.datetime.now(dt.UTC).isoformat(),
                    "quick": args.quick,
                    "only": only,
                    "rows": report.rows,
                    "targets": results,
                },
                indent=2,
                default=str,
            )
        )
        print(f"\nwrote {results_file.relative_to(ROOT)}")
        if only:
            print("\n".join(lines), flush=True)  # the case's figure is the last line
    finally:
        connections.close_all()
        if not args.keep:
            admin_sql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
