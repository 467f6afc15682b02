"""What the meeting commands share: finding the meeting, and running one manual transition on it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from core.management.cli import actor, parse_now
from meetings.models import Meeting


def meeting(meeting_id: str) -> Meeting:
    try:
        return Meeting.objects.get(pk=int(meeting_id))
    except (ValueError, Meeting.DoesNotExist):
        raise CommandError(f"no meeting with id {meeting_id!r}") from None


class TransitionCommand(BaseCommand):
    """``manage.py <command> ID [--by STAFF] [--reason TEXT] [--now ISO]``: one transition of ``meetings.lifecycle``
    (``transition``), recorded as manual with the staff user or the operator at this terminal."""

    transition = None

    def add_arguments(self, parser):
        parser.add_argument("meeting_id")
        parser.add_argument("--by", help="staff username to record as the actor")
        parser.add_argument("--reason", default="")
        parser.add_argument("--now", help="ISO 8601 moment with offset (default: now)")

    def handle(self, meeting_id, by=None, reason="", now=None, **options):
        try:
            outcome = type(self).transition(meeting(meeting_id), now=parse_now(now), actor=actor(by), reason=reason)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(outcome.message)
