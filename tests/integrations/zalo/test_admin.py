"""Zalo channels in the admin: today's counts, the refresh-refused flag, write-only ids, keys and tokens, the templates
per kind (a link kind needs its button parameter), and the permission each page and action checks."""

import pytest
from django.utils import timezone

from integrations.zalo.models import ZaloChannel, ZaloMessage, ZaloTemplate
from notifications.models import Notification
from tests.admin_users import actions_offered, post_action, staff_with
from tests.integrations.zalo.conftest import (
    ACCESS_TOKEN,
    APP_ID,
    OA_ID,
    OA_SECRET_KEY,
    REFRESH_TOKEN,
    SECRET_KEY,
    enqueue,
    vietnamese_students,
)

SECRETS = (APP_ID, OA_ID, SECRET_KEY, OA_SECRET_KEY, ACCESS_TOKEN, REFRESH_TOKEN)
URL = "/admin/integrations/zalochannel/"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_the_list_shows_todays_counts_and_the_flag_never_a_secret(admin_client, zalo_channel, meeting, settings):
    settings.NOTIFICATION_CHANNEL = "live"
    now = timezone.now()
    rows = enqueue(
        "join_link", vietnamese_students(3, now=now), now=now, meeting=meeting, url_for=lambda s: "https://x/"
    )
    for row in rows:
        ZaloMessage.objects.create(
            notification=row,
            zalo_channel=zalo_channel,
            tracking_id=str(row.retry_key),
            state="accepted",
            last_call_at=now,
        )
    Notification.objects.filter(pk__in=[r.pk for r in rows[:2]]).update(state="sent", sent_at=now)
    Notification.objects.filter(pk=rows[2].pk).update(state="failed", failed_at=now)
    ZaloChannel.objects.filter(pk=zalo_channel.pk).update(auth_failed_at=now, auth_error="-14014 Invalid refresh token")
    page = admin_client.get(URL).content.decode()
    assert '<td class="field-sent_today">2' in page and '<td class="field-failed_today">1' in page
    assert "paste a new refresh token" in page
    assert not [s for s in SECRETS if s in page]
    form = admin_client.get(f"{URL}{zalo_channel.pk}/change/").content.decode()
    assert not [s for s in SECRETS if s in form]


def test_blank_keeps_the_secrets_and_a_new_refresh_token_clears_the_flag(admin_client, zalo_channel):
    ZaloChannel.objects.filter(pk=zalo_channel.pk).update(auth_failed_at=timezone.now())
    data = {
        "name": "Trung tâm IELTS",
        "slug": "ielts-vn",
        "enabled": "on",
        "templates-TOTAL_FORMS": "0",
        "templates-INITIAL_FORMS": "0",
    }
    url = f"{URL}{zalo_channel.pk}/change/"
    assert admin_client.post(url, data).status_code == 302
    channel = ZaloChannel.objects.get(pk=zalo_channel.pk)
    assert (channel.secret_key, channel.refresh_token, channel.app_id) == (SECRET_KEY, REFRESH_TOKEN, APP_ID)
    assert channel.auth_failed_at is not None
    assert admin_client.post(url, {**data, "refresh_token": "pasted-refresh-token"}).status_code == 302
    channel.refresh_from_db()
    assert channel.refresh_token == "pasted-refresh-token" and channel.auth_failed_at is None


def test_a_new_channel_needs_its_keys_but_not_an_access_token(admin_client, db):
    data = {"name": "New", "slug": "new", "templates-TOTAL_FORMS": "0", "templates-INITIAL_FORMS": "0"}
    reply = admin_client.post(f"{URL}add/", data)
    assert reply.status_code == 200 and "Required for a new channel." in reply.content.decode()
    full = {**data, "app_id": "1", "oa_id": "2", "secret_key": "s", "oa_secret_key": "o", "refresh_token": "r"}
    assert admin_client.post(f"{URL}add/", full).status_code == 302
    assert ZaloChannel.objects.get(slug="new").access_token == ""


def test_a_link_template_needs_its_button_and_values_must_be_known(zalo_channel):
    from django.core.exceptions import ValidationError

    join = ZaloTemplate(zalo_channel=zalo_channel, kind="join_link", template_id="1", parameters={"a": "name"})
    with pytest.raises(ValidationError) as caught:
        join.clean()
    assert "button_parameter" in caught.value.message_dict
    unknown = ZaloTemplate(zalo_channel=zalo_channel, kind="class_open", template_id="1", parameters={"a": "iban"})
    with pytest.raises(ValidationError):
        unknown.clean()
    in_text = ZaloTemplate(zalo_channel=zalo_channel, kind="class_open", template_id="1", parameters={"a": "url"})
    with pytest.raises(ValidationError):
        in_text.clean()


def test_the_pages_and_the_clear_action_check_permissions(client, zalo_channel):
    viewer = staff_with("viewer", "integrations.view_zalochannel")
    client.force_login(viewer)
    assert client.get(URL).status_code == 200
    assert "clear_auth_flag" not in actions_offered(client, ZaloChannel)
    assert client.get(f"{URL}{zalo_channel.pk}/change/").status_code == 200  # read only
    assert client.get("/admin/integrations/zalomessage/").status_code == 403
    editor = staff_with("editor", "integrations.view_zalochannel", "integrations.change_zalochannel")
    client.force_login(editor)
    ZaloChannel.objects.filter(pk=zalo_channel.pk).update(auth_failed_at=timezone.now())
    post_action(client, ZaloChannel, "clear_auth_flag", [zalo_channel])
    assert ZaloChannel.objects.get(pk=zalo_channel.pk).auth_failed_at is None
