from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from meetings import stats


def _seconds(value):
    return "—" if value is None else f"{value:.1f}s"


class Command(BaseCommand):
    help = "Per day: meetings opened and closed, open lateness (mean, p95, max), manual vs automatic, failures."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7)

    def handle(self, days, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        header = (
            f"{'day (UTC)':<12}{'opened':>8}{'manual':>8}{'closed':>8}{'manual':>8}{'late mean':>11}"
            f"{'late p95':>10}{'late max':>10}{'failures':>10}"
        )
        self.stdout.write(header)
        for day in stats.daily(timezone.now(), days):
            self.stdout.write(
                f"{day.day.isoformat():<12}{day.opened:>8}{day.opened_manually:>8}{day.closed:>8}"
                f"{day.closed_manually:>8}{_seconds(day.lateness_mean):>11}{_seconds(day.lateness_p95):>10}"
                f"{_seconds(day.lateness_max):>10}{day.failures:>10}"
            )
