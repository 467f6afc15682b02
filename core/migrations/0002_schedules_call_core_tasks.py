"""The lifecycle clock and the maintenance pass moved from meetings.tasks to core.tasks: schedules already in the
database call them at their new place (``setup_schedules`` on the next deploy would too; until then the cluster
would call a function that no longer exists)."""

from django.db import migrations

MOVED = {"meetings.tasks.clock": "core.tasks.clock", "meetings.tasks.maintenance": "core.tasks.maintenance"}


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVED.items():
        Schedule.objects.filter(func=old).update(func=new)


def backwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVED.items():
        Schedule.objects.filter(func=new).update(func=old)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
