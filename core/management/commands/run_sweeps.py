import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.management import cli
from core.runner import SWEEPS, run_sweeps


class Command(BaseCommand):
    help = (
        "Run every lifecycle sweep once, at --now (default: now). Safe to repeat: a second run changes nothing. "
        "With --until, repeat at --now, --now + --step, ... up to --until, as fast as possible (replaying a period "
        "on a simulated clock); with --for-seconds, repeat on the real clock for that long."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO 8601 moment with offset, e.g. 2026-07-01T12:00:00Z")
        parser.add_argument("--only", action="append", choices=list(SWEEPS), help="run only these sweeps")
        parser.add_argument("--until", help="ISO 8601 moment: repeat on a simulated clock up to it")
        parser.add_argument("--step", type=float, default=1.0, help="seconds between simulated moments (default 1)")
        parser.add_argument("--for-seconds", type=float, help="repeat on the real clock for this long")
        parser.add_argument("--quiet", action="store_true", help="print only a total")

    def handle(self, now=None, only=None, until=None, step=1.0, for_seconds=None, quiet=False, **options):
        if until and for_seconds:
            raise CommandError("use either --until (simulated clock) or --for-seconds (real clock), not both")
        if step <= 0:
            raise CommandError("--step must be positive")
        moments = self._moments(cli.parse_now(now), cli.parse_now(until) if until else None, step, for_seconds)
        runs = failures = 0
        for moment in moments:
            results = run_sweeps(moment, names=only, runner="manual")
            runs += 1
            failures += sum(counts.get("error", 0) for counts in results.values())
            if not quiet:
                self._print(moment, results)
        if quiet:
            self.stdout.write(f"{runs} sweep runs")
        if failures:
            raise CommandError(f"{failures} sweep(s) failed; the log says why. Running again is safe.")

    @staticmethod
    def _moments(start, until, step, for_seconds):
        if until is not None:
            if until < start:
                raise CommandError("--until is before --now")
            moment = start
            while moment <= until:
                yield moment
                moment += dt.timedelta(seconds=step)
        elif for_seconds is not None:
            deadline = time.monotonic() + for_seconds
            while time.monotonic() < deadline:
                yield timezone.now()
                time.sleep(min(step, max(0.0, deadline - time.monotonic())))
        else:
            yield start

    def _print(self, moment, results):
        self.stdout.write(f"sweeps at {moment.isoformat()}")
        for name, counts in results.items():
            summary = ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "nothing due"
            self.stdout.write(f"  {name}: {summary}")
