"""Migration integrations 0006 / classroom 0006: the students a LINE follow created (and those staff gave a LINE id)
become contacts linked to them, with their following state and newest status time; nothing is lost, and the way
back restores the fields."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("integrations", "0005_line_contacts"), ("classroom", "0005_api_token_expiry_index")]
AFTER = [("classroom", "0006_student_line_fields_moved_to_contacts")]
AT = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_follow_created_students_become_linked_contacts_and_back():
    old = migrate(BEFORE)
    Channel, Student = old.get_model("integrations", "LineChannel"), old.get_model("classroom", "Student")
    channel = Channel.objects.create(name="IELTS", slug="ielts", channel_id="1", channel_secret="s", access_token="t")
    other = Channel.objects.create(name="Kids", slug="kids", channel_id="2", channel_secret="s", access_token="t")
    follower = Student.objects.create(
        display_name="LINE user 00aaaa",
        line_channel=channel,
        line_user_id="U" + "a" * 32,
        line_following=True,
        line_status_changed_at=AT,
    )
    blocked = Student.objects.create(
        display_name="Bao", line_channel=other, line_user_id="U" + "a" * 32, line_following=False
    )
    web_only = Student.objects.create(display_name="Chi", email="chi@example.com")
    try:
        new = migrate(AFTER)
        Contact = new.get_model("integrations", "LineContact")
        rows = {
            c.student_id: c
            for c in Contact.objects.all()  # one per LINE student; the web-only student has none
        }
        assert set(rows) == {follower.pk, blocked.pk}
        first = rows[follower.pk]
        assert (first.line_channel_id, first.line_user_id, first.following) == (channel.pk, "U" + "a" * 32, True)
        assert first.status_changed_at == AT and first.role == "student" and first.linked_at is not None
        assert first.display_name == "LINE user 00aaaa"
        assert (rows[blocked.pk].line_channel_id, rows[blocked.pk].following) == (other.pk, False)
        assert web_only.pk not in rows
        fields = {f.name for f in new.get_model("classroom", "Student")._meta.get_fields()}
        assert "line_user_id" not in fields and "line_following" not in fields

        back = migrate(BEFORE)
        restored = back.get_model("classroom", "Student").objects.get(pk=follower.pk)
        assert (restored.line_channel_id, restored.line_user_id, restored.line_following) == (
            channel.pk,
            "U" + "a" * 32,
            True,
        )
        assert restored.line_status_changed_at == AT
        again = migrate(AFTER)  # and forward again: the contacts still there are kept, not doubled
        assert again.get_model("integrations", "LineContact").objects.count() == 2
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
