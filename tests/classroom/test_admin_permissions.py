"""Every admin action declares the permission it needs; view-only staff get none of the outbox's, the LINE and Zoom
pages' or django-q2's task actions, and posting them anyway changes nothing."""

import datetime as dt
import uuid

import pytest
from django.contrib import admin
from django.db import transaction
from django.utils import timezone
from django_q.models import Failure, OrmQ, Success, Task

from integrations.line.models import LineChannel
from integrations.zoom.models import ZoomAccount
from notifications import outbox
from notifications.models import Notification
from tests.admin_users import actions_offered, post_action, staff_with
from tests.factories import LineChannelFactory, ZoomAccountFactory


def every_action() -> list:
    """Each registered admin's actions, the site-wide ones (delete selected) included, before any permission
    filtering (``get_actions`` would already hide the ones whose check fails)."""
    return [
        pytest.param(function, id=f"{model._meta.label}.{name}")
        for model, model_admin in admin.site._registry.items()
        for function, name, _description in model_admin._get_base_actions()
    ]


@pytest.mark.parametrize("action", every_action())
def test_every_admin_action_declares_the_permission_it_needs(action):
    assert getattr(action, "allowed_permissions", None), "a staff user who may only look could run this"


# --- the outbox ------------------------------------------------------------------------------------------------------


@pytest.fixture
def failed(meeting, alice, now):
    with transaction.atomic():
        outbox.enqueue(
            [outbox.message("class_open", outbox.for_student(alice, "class_open")[0], now=now, meeting=meeting)]
        )
    Notification.objects.update(state="failed", attempts=8, failed_at=now)
    return Notification.objects.get()


def test_retry_now_needs_the_change_permission(client, failed):
    client.force_login(staff_with("vera", "notifications.view_notification"))
    assert actions_offered(client, Notification) == []
    post_action(client, Notification, "retry_now", [failed])
    assert Notification.objects.get().state == "failed"
    client.force_login(staff_with("olga", "notifications.view_notification", "notifications.change_notification"))
    assert actions_offered(client, Notification) == ["retry_now"]
    post_action(client, Notification, "retry_now", [failed])
    assert Notification.objects.get().state == "pending"


# --- LINE channels and Zoom accounts --------------------------------------------------------------------------------


def test_clearing_the_line_401_flag_needs_the_change_permission(client, db):
    channel = LineChannelFactory()
    LineChannel.objects.filter(pk=channel.pk).update(auth_failed_at=timezone.now())
    client.force_login(staff_with("vera", "integrations.view_linechannel"))
    assert actions_offered(client, LineChannel) == []
    post_action(client, LineChannel, "clear_auth_flag", [channel])
    assert LineChannel.objects.get().auth_failed_at is not None
    client.force_login(staff_with("olga", "integrations.view_linechannel", "integrations.change_linechannel"))
    post_action(client, LineChannel, "clear_auth_flag", [channel])
    assert LineChannel.objects.get().auth_failed_at is None


def test_clearing_zoom_marks_needs_the_change_permission(client, db):
    account = ZoomAccountFactory()
    ZoomAccount.objects.filter(pk=account.pk).update(auth_failed_at=timezone.now(), last_error="401")
    client.force_login(staff_with("vera", "integrations.view_zoomaccount"))
    assert actions_offered(client, ZoomAccount) == []
    post_action(client, ZoomAccount, "clear_marks", [account])
    assert ZoomAccount.objects.get().auth_failed_at is not None
    client.force_login(staff_with("olga", "integrations.view_zoomaccount", "integrations.change_zoomaccount"))
    post_action(client, ZoomAccount, "clear_marks", [account])
    assert ZoomAccount.objects.get().auth_failed_at is None


# --- django-q2's task lists ------------------------------------------------------------------------------------------


def task(*, success: bool) -> Task:
    started = timezone.now() - dt.timedelta(minutes=1)
    return Task.objects.create(
        id=uuid.uuid4().hex,
        name=f"{'done' if success else 'failed'}-task",
        func="core.tasks.lifecycle_clock",
        args=(),
        kwargs={},
        started=started,
        stopped=started + dt.timedelta(seconds=1),
        success=success,
    )


@pytest.mark.parametrize("model", [Success, Failure], ids=["success", "failure"])
def test_resubmitting_a_task_is_refused_to_a_view_only_user(client, db, model):
    done = task(success=model is Success)
    client.force_login(staff_with("vera", f"django_q.view_{model._meta.model_name}"))
    assert actions_offered(client, model) == []
    post_action(client, model, "resubmit_task", [done])
    assert not OrmQ.objects.exists() and Task.objects.filter(pk=done.pk).exists()


def test_resubmitting_needs_change_and_for_a_failure_also_delete(client, db):
    done, failed = task(success=True), task(success=False)
    client.force_login(staff_with("olga", "django_q.view_failure", "django_q.change_failure"))
    assert actions_offered(client, Failure) == []  # resubmitting a failure deletes it
    client.force_login(
        staff_with(
            "quinn",
            "django_q.view_success",
            "django_q.change_success",
            "django_q.view_failure",
            "django_q.change_failure",
            "django_q.delete_failure",
        )
    )
    post_action(client, Success, "resubmit_task", [done])
    post_action(client, Failure, "resubmit_task", [failed])
    assert OrmQ.objects.count() == 2 and not Task.objects.filter(pk=failed.pk).exists()
