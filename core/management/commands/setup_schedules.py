from django.core.management.base import BaseCommand

from core.schedules import upsert_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules by name. Safe to run on every deploy."

    def handle(self, **options):
        for name, action in upsert_schedules():
            self.stdout.write(f"{action}: {name}")
