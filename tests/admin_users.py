"""Staff users with only the permissions a test names, and what the admin offers them."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db.models import Q
from django.urls import reverse

from tests.factories import UserFactory


def staff_with(username: str, *perms: str):
    """A staff user (not a superuser) holding exactly ``perms`` ("app_label.codename")."""
    user = UserFactory(username=username, is_staff=True)
    wanted = Q(pk__in=[])
    for perm in perms:
        app_label, codename = perm.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(wanted))
    assert len(found) == len(perms), f"unknown permission among {perms}"
    user.user_permissions.set(found)
    return user


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def actions_offered(client, model) -> list[str]:
    """The names in the changelist's action dropdown (none when the admin offers no action at all)."""
    response = client.get(changelist(model))
    assert response.status_code == 200
    form = response.context["action_form"]
    return [] if form is None else [name for name, _label in form.fields["action"].choices if name]


def post_action(client, model, action: str, objects, *, reason: str | None = None):
    """Run an action. With ``reason``: an action that asks first (cancelling), confirmed with that reason."""
    data = {"action": action, "_selected_action": [o.pk for o in objects]}
    if reason is not None:
        data.update(confirm="yes", reason=reason)
    return client.post(changelist(model), data, follow=True)
