"""LINE channels and the outbox in the admin: today's counts, the 401 flag, masked write-only secrets, retry now."""

import datetime as dt

import pytest
from django.utils import timezone

from integrations.line.models import LineChannel
from notifications.models import Notification
from tests.conftest import LINE_SECRET, LINE_TOKEN
from tests.notifications.line_helpers import enqueue, followers


@pytest.fixture(autouse=True)
def live(settings):
    settings.NOTIFICATION_CHANNEL = "live"  # rows are routed to LINE (the default, "log", is the demo's)


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_the_channel_list_shows_todays_counts_and_the_401_flag_never_the_secrets(admin_client, line_channel, meeting):
    now = timezone.now()
    rows = enqueue("class_open", followers(line_channel, 5), now=now, meeting=meeting)
    Notification.objects.filter(pk__in=[r.pk for r in rows[:3]]).update(state="sent", sent_at=now)
    Notification.objects.filter(pk=rows[3].pk).update(state="failed", failed_at=now)
    Notification.objects.filter(pk=rows[4].pk).update(state="sent", sent_at=now - dt.timedelta(days=2))
    LineChannel.objects.filter(pk=line_channel.pk).update(auth_failed_at=now)
    page = admin_client.get("/admin/integrations/linechannel/").content.decode()
    assert '<td class="field-sent_today">3' in page
    assert '<td class="field-failed_today">1' in page
    assert "replace the access token" in page
    assert LINE_SECRET not in page and LINE_TOKEN not in page


def test_the_channel_form_never_shows_the_secrets_and_blank_keeps_them(admin_client, line_channel):
    LineChannel.objects.filter(pk=line_channel.pk).update(auth_failed_at=timezone.now())
    url = f"/admin/integrations/linechannel/{line_channel.pk}/change/"
    form = admin_client.get(url).content.decode()
    assert LINE_SECRET not in form and LINE_TOKEN not in form
    data = {"name": "IELTS Club", "slug": "ielts", "channel_id": "1650000000", "enabled": "on"}
    assert admin_client.post(url, {**data, "channel_secret": "", "access_token": ""}).status_code == 302
    line_channel.refresh_from_db()
    assert line_channel.channel_secret == LINE_SECRET and line_channel.access_token == LINE_TOKEN
    assert line_channel.auth_failed_at is not None
    assert admin_client.post(url, {**data, "channel_secret": "", "access_token": "new-token"}).status_code == 302
    line_channel.refresh_from_db()
    assert line_channel.access_token == "new-token" and line_channel.auth_failed_at is None


def test_a_new_channel_needs_both_secrets(admin_client, db):
    reply = admin_client.post(
        "/admin/integrations/linechannel/add/",
        {"name": "New", "slug": "new", "channel_id": "1", "channel_secret": "", "access_token": ""},
    )
    assert reply.status_code == 200 and "Required for a new channel." in reply.content.decode()
    assert not LineChannel.objects.exists()


def test_the_outbox_filters_by_state_kind_and_channel(admin_client, line_channel, meeting):
    enqueue("class_open", followers(line_channel, 2), now=timezone.now(), meeting=meeting)
    page = admin_client.get("/admin/notifications/notification/").content.decode()
    for link in ("?state__exact=failed", "?kind__exact=join_link", "?channel__exact=line", "?line_channel__id__exact="):
        assert link in page
    filtered = admin_client.get(f"/admin/notifications/notification/?line_channel__id__exact={line_channel.pk}")
    assert filtered.status_code == 200 and "2 notifications" in filtered.content.decode()


def test_retry_now_puts_failed_rows_back_and_leaves_the_others(admin_client, line_channel, meeting):
    rows = enqueue("class_open", followers(line_channel, 2), now=timezone.now(), meeting=meeting)
    Notification.objects.filter(pk=rows[0].pk).update(state="failed", attempts=8, failed_at=timezone.now())
    Notification.objects.filter(pk=rows[1].pk).update(state="sent")
    reply = admin_client.post(
        "/admin/notifications/notification/",
        {"action": "retry_now", "_selected_action": [rows[0].pk, rows[1].pk]},
        follow=True,
    )
    assert "1 messages will be sent again" in reply.content.decode()
    assert dict(Notification.objects.values_list("pk", "state")) == {rows[0].pk: "pending", rows[1].pk: "sent"}
    assert Notification.objects.get(pk=rows[0].pk).attempts == 0


def test_a_view_only_staff_member_sees_the_channel_without_its_secrets(client, line_channel):
    """Failed before the fix with a KeyError (500): the write-only form had no secret fields to replace on a
    view-only page, where Django would otherwise show every field, the secrets included, as text."""
    from tests.admin_users import staff_with

    client.force_login(staff_with("viewer", "integrations.view_linechannel"))
    page = client.get(f"/admin/integrations/linechannel/{line_channel.pk}/change/")
    assert page.status_code == 200
    assert LINE_SECRET not in page.content.decode() and LINE_TOKEN not in page.content.decode()
