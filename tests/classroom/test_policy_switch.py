"""The policy's on/off value ``close_empty_classes_early`` (issue 17): on by default, switched like any other value
(the command, the admin), refused when it is neither on nor off, and added to every existing version by its
migration."""

import importlib
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse

from classroom import policies
from classroom.models import Policy

pytestmark = pytest.mark.django_db
KEY = "close_empty_classes_early"


def policy_command(*args):
    out = StringIO()
    call_command("policy", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_is_on_by_default_from_the_environment(now, settings):
    assert settings.CLOSE_EMPTY_CLASSES_EARLY is True
    assert policies.current(now).close_empty_classes_early is True
    assert json.loads(policy_command("show"))["values"][KEY] is True


@pytest.mark.parametrize(("word", "value"), [("off", False), ("false", False), ("no", False), ("0", False)])
def test_the_command_switches_it_off(now, word, value):
    out = policy_command("set", f"{KEY}={word}", "--note", "drop-in term")
    assert f"{KEY}: True -> False" in out
    assert Policy.objects.order_by("-id").first().values[KEY] is value
    assert json.loads(policy_command("show"))["values"][KEY] is False
    # And back on: a new version again.
    assert f"{KEY}: False -> True" in policy_command("set", f"{KEY}=on", "--note", "term over")


def test_a_value_that_is_neither_on_nor_off_is_refused(now):
    before = Policy.objects.count()
    with pytest.raises(CommandError, match="is not on or off"):
        policy_command("set", f"{KEY}=maybe", "--note", "x")
    assert Policy.objects.count() == before


def test_the_admin_form_has_a_box_and_unticking_it_makes_a_version(client, staff):
    client.force_login(staff)
    page = client.get(reverse("admin:classroom_policy_add"))
    assert page.context["form"][KEY].initial is True
    values = policies.current(policies.FIRST_EFFECTIVE_FROM.replace(year=2100)).values()
    data = {**values, "course": "", "effective_from": "", "note": "no early close"}
    del data[KEY]  # an unticked box is not posted
    response = client.post(reverse("admin:classroom_policy_add"), data)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    made = Policy.objects.order_by("-id").first()
    assert made.values[KEY] is False and made.note == "no early close"
    page = client.get(reverse("admin:classroom_policy_change", args=[made.pk])).content.decode()
    assert f"<tr><td>{KEY}</td><td>True</td><td>False</td></tr>" in page


def test_the_migration_adds_it_to_every_version_and_takes_it_away_again(now):
    migration = importlib.import_module("classroom.migrations.0011_policy_close_empty_classes_early")
    policies.current(now)  # the first version
    older = Policy.objects.create(
        values={k: v for k, v in policies.defaults_from_settings().items() if k != KEY},
        effective_from=policies.FIRST_EFFECTIVE_FROM,
        created_at=now,
        author_name="before issue 17",
        note="made before the switch existed",
    )
    # The models as the migration sees them (the real Policy refuses to be saved again: versions are never edited).
    state = MigrationLoader(connection).project_state(("classroom", "0011_policy_close_empty_classes_early"))
    migration.add_the_switch(state.apps, None)
    older.refresh_from_db()
    assert older.values[KEY] is True
    migration.remove_the_switch(state.apps, None)
    assert not any(KEY in values for values in Policy.objects.values_list("values", flat=True))
