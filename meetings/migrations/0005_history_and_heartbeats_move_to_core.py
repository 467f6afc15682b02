"""StateChange and SweepHeartbeat now belong to core (core 0001 took them over, tables and rows unchanged): meetings
forgets them in its model state only; nothing in the database changes."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("meetings", "0004_participant_last_seen_at"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="StateChange"),
                migrations.DeleteModel(name="SweepHeartbeat"),
            ],
            database_operations=[],
        ),
    ]
