from meetings import lifecycle
from meetings.management.cli import TransitionCommand


class Command(TransitionCommand):
    help = "Close a meeting now: the room is ended for everyone, bookings complete (recorded as a manual close)."
    transition = staticmethod(lifecycle.close_meeting)
