from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo import school as demo


class Command(BaseCommand):
    help = "Create the demo school (idempotent): teachers in three time zones, students, courses, meetings, bookings."

    def handle(self, **options):
        if not settings.DEBUG:
            # It creates the staff login admin/admin and people with the password "demo": never on a real site.
            raise CommandError(
                "seed_demo runs only with DEBUG on (it creates the login admin / admin); DEBUG is off. "
                "For the demo use `make run`, or set DEBUG=true on a development machine."
            )
        for line in demo.seed(timezone.now()):
            self.stdout.write(f"created {line}")
        counts = ", ".join(f"{value} {key}" for key, value in demo.summary().items())
        self.stdout.write(f"demo school: {counts}")
        self.stdout.write(
            f"Admin: {settings.PUBLIC_BASE_URL}/admin/  login: {demo.STAFF_USERNAME} / {demo.STAFF_PASSWORD}"
        )
