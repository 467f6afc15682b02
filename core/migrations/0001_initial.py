"""The history (StateChange) and the runners' heartbeats (SweepHeartbeat) move here from meetings, tables and rows
as they are: this migration only tells Django's model state that core owns them (the tables keep their names,
meetings_statechange and meetings_sweepheartbeat); meetings 0005 then forgets them."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('meetings', '0004_participant_last_seen_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='SweepHeartbeat',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=64, unique=True)),
                        ('last_started_at', models.DateTimeField(blank=True, null=True)),
                        ('last_completed_at', models.DateTimeField(blank=True, null=True)),
                        ('last_counts', models.JSONField(blank=True, default=dict)),
                        ('last_error', models.TextField(blank=True)),
                    ],
                    options={
                        'db_table': 'meetings_sweepheartbeat',
                    },
                ),
                migrations.CreateModel(
                    name='StateChange',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('object_id', models.PositiveBigIntegerField()),
                        ('field', models.CharField(default='state', max_length=32)),
                        ('from_state', models.CharField(blank=True, max_length=32)),
                        ('to_state', models.CharField(max_length=32)),
                        ('at', models.DateTimeField(help_text='UTC, the `now` of the operation')),
                        ('actor_name', models.CharField(help_text="'system' or the staff user's name at the time", max_length=150)),
                        ('reason', models.TextField(blank=True)),
                        ('data', models.JSONField(blank=True, default=dict)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                        ('content_type', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to='contenttypes.contenttype')),
                        ('meeting', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='history', to='meetings.meeting')),
                    ],
                    options={
                        'verbose_name': 'history entry',
                        'verbose_name_plural': 'history',
                        'db_table': 'meetings_statechange',
                        'ordering': ['at', 'id'],
                        'indexes': [models.Index(fields=['content_type', 'object_id', 'at'], name='history_object'), models.Index(fields=['meeting', 'at'], name='history_meeting')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
