"""The Zoom account pool in the admin: today's count and state per account, secrets never shown."""

import datetime as dt

import pytest
from django.utils import timezone

from integrations.zoom.models import ZoomAccount
from tests.factories import ZoomAccountFactory


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_the_pool_shows_todays_requests_and_state_with_secrets_masked(admin_client, db):
    now = timezone.now()
    ZoomAccountFactory(name="Ann", client_secret="ann-very-secret-value", requests_today=42, requests_date=now.date())
    ZoomAccountFactory(name="Ben", exhausted_until=now + dt.timedelta(hours=1))
    ZoomAccountFactory(name="Cat", requests_today=99, requests_date=now.date() - dt.timedelta(days=1))
    page = admin_client.get("/admin/integrations/zoomaccount/").content.decode()
    assert "42 / 100" in page and "0 / 100" in page  # Cat's 99 were yesterday
    assert "daily limit reached" in page and "available" in page
    assert "ann-very-secret-value" not in page and "ann-…" in page


def test_editing_an_account_keeps_the_secret_and_the_counter_and_clears_a_refusal(admin_client, db):
    account = ZoomAccountFactory(name="Ann", client_secret="old-secret", auth_failed_at=timezone.now())
    form = admin_client.get(f"/admin/integrations/zoomaccount/{account.pk}/change/").content.decode()
    assert "old-secret" not in form
    ZoomAccount.objects.filter(pk=account.pk).update(requests_today=7, requests_date=timezone.now().date())
    reply = admin_client.post(
        f"/admin/integrations/zoomaccount/{account.pk}/change/",
        {
            "name": "Ann",
            "plan": "pro",
            "enabled": "on",
            "account_id": account.account_id,
            "client_id": account.client_id,
            "client_secret": "",
            "host_user_id": "new-host",
        },
    )
    assert reply.status_code == 302
    account.refresh_from_db()
    assert account.client_secret == "old-secret" and account.host_user_id == "new-host"
    assert account.requests_today == 7  # counted while the page was open: not written back
    assert account.auth_failed_at is None  # new details deserve a new try


def test_a_new_account_needs_its_secret(admin_client, db):
    reply = admin_client.post(
        "/admin/integrations/zoomaccount/add/",
        {"name": "Dan", "plan": "pro", "account_id": "a", "client_id": "c", "client_secret": "", "host_user_id": "h"},
    )
    assert reply.status_code == 200 and "Required for a new account." in reply.content.decode()
    assert not ZoomAccount.objects.exists()
