from meetings import lifecycle
from meetings.management.cli import TransitionCommand


class Command(TransitionCommand):
    help = "Open a meeting now, through the same transition as the sweep (recorded as a manual open)."
    transition = staticmethod(lifecycle.open_meeting)
