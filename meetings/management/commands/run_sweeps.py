from django.core.management.base import BaseCommand

from meetings.management import cli
from meetings.runner import SWEEPS, run_sweeps


class Command(BaseCommand):
    help = "Run every lifecycle sweep once, at --now (default: now). Safe to repeat: a second run changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO 8601 moment with offset, e.g. 2026-07-01T12:00:00Z")
        parser.add_argument("--only", action="append", choices=list(SWEEPS), help="run only these sweeps")

    def handle(self, now=None, only=None, **options):
        moment = cli.parse_now(now)
        results = run_sweeps(moment, names=only, runner="manual")
        self.stdout.write(f"sweeps at {moment.isoformat()}")
        for name, counts in results.items():
            summary = ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "nothing due"
            self.stdout.write(f"  {name}: {summary}")
