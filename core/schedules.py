"""The django-q2 schedules this system needs, upserted by name (``Schedule.name`` is not unique in django-q2, so
we delete duplicates). Values are validated by building them here, never typed into the admin: one schedule with
bad arguments rolls back the scheduler's whole pass."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

SCHEDULES = {
    "lifecycle-clock": {"func": "core.tasks.clock", "schedule_type": Schedule.MINUTES, "minutes": 1},
    "delivery-clock": {"func": "core.tasks.delivery_clock", "schedule_type": Schedule.MINUTES, "minutes": 1},
    "lifecycle-maintenance": {"func": "core.tasks.maintenance", "schedule_type": Schedule.MINUTES, "minutes": 1},
}


def upsert_schedules() -> list[tuple[str, str]]:
    done = []
    with transaction.atomic():
        for name, spec in SCHEDULES.items():
            existing = list(Schedule.objects.select_for_update().filter(name=name).order_by("pk"))
            for duplicate in existing[1:]:
                duplicate.delete()
            if existing:
                schedule = existing[0]
                changed = any(getattr(schedule, key) != value for key, value in spec.items()) or schedule.repeats != -1
                for key, value in spec.items():
                    setattr(schedule, key, value)
                schedule.repeats = -1
                schedule.save()
                done.append((name, "updated" if changed else "unchanged"))
            else:
                Schedule.objects.create(name=name, repeats=-1, next_run=timezone.now(), **spec)
                done.append((name, "created"))
    return done
