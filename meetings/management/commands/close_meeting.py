from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from meetings import lifecycle
from meetings.management import cli


class Command(BaseCommand):
    help = "Close a meeting now: the room is ended for everyone, bookings complete (recorded as a manual close)."

    def add_arguments(self, parser):
        parser.add_argument("meeting_id")
        parser.add_argument("--by", help="staff username to record as the actor")
        parser.add_argument("--reason", default="")
        parser.add_argument("--now", help="ISO 8601 moment with offset (default: now)")

    def handle(self, meeting_id, by=None, reason="", now=None, **options):
        try:
            outcome = lifecycle.close_meeting(
                cli.meeting(meeting_id), now=cli.parse_now(now), actor=cli.actor(by), reason=reason
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(outcome.message)
