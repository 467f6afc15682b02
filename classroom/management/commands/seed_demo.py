from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from classroom import demo


class Command(BaseCommand):
    help = "Create the demo school (idempotent): teachers in three time zones, students, courses, meetings, bookings."

    def handle(self, **options):
        for line in demo.seed(timezone.now()):
            self.stdout.write(f"created {line}")
        counts = ", ".join(f"{value} {key}" for key, value in demo.summary().items())
        self.stdout.write(f"demo school: {counts}")
        self.stdout.write(
            f"Admin: {settings.PUBLIC_BASE_URL}/admin/  login: {demo.STAFF_USERNAME} / {demo.STAFF_PASSWORD}"
        )
