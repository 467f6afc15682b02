"""Linking LINE contacts: bad input links nothing and says why in the chat; a code is hashed, single use, per
channel and throttled; a contact linked to someone else is never re-linked; staff link in the admin with history;
the API's code and unlink."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
import requests
import time_machine

from core.models import StateChange
from core.runner import SWEEPS
from integrations.line import linking
from integrations.line.models import LineContact, LineLinkCode
from tests.factories import LineChannelFactory, StudentFactory, UserFactory
from tests.integrations.line.linking_helpers import account_link, deliver, say

AN_LINE = "U" + "a1" * 16
MOM_LINE = "U" + "b2" * 16
T0 = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def an(db):
    return StudentFactory(display_name="An", user=UserFactory(username="an"), language="zh-hant")


@pytest.fixture
def bao(db):
    return StudentFactory(display_name="Bao", user=UserFactory(username="bao"))


@pytest.fixture
def fake(line, settings):
    settings.LINE_ACCESS_BASE_URL = line.url
    return line


def contact(user_id=AN_LINE) -> LineContact:
    return LineContact.objects.get(line_user_id=user_id)


def test_a_wrong_code_gets_a_clear_reply_and_links_nothing(client, fake, line_channel, an):
    code, _, _ = linking.issue_code(an, now=T0)
    with time_machine.travel(T0, tick=False):
        wrong = "ZZZZ-ZZZZ" if code != "ZZZZ-ZZZZ" else "YYYY-YYYY"
        assert say(client, fake, MOM_LINE, wrong) == {"wrong code": 1}
    assert "not valid" in fake.replies_to(MOM_LINE)[-1]
    assert contact(MOM_LINE).student is None and contact(MOM_LINE).role == ""
    assert LineLinkCode.objects.get().used_at is None


def test_a_code_is_stored_only_as_a_keyed_hash_and_works_once(client, fake, line_channel, an):
    code, expires_at, _ = linking.issue_code(an, role="guardian", now=T0)
    assert expires_at == T0 + dt.timedelta(hours=24)
    stored = LineLinkCode.objects.get()
    assert code.replace("-", "") not in stored.digest and code not in str(LineLinkCode.objects.values().get())
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        assert say(client, fake, MOM_LINE, code) == {"linked": 1}
        assert fake.replies_to(MOM_LINE)[-1] == "完成：此 LINE 帳號已綁定為 An 的家長。"  # in An's language
        assert say(client, fake, "U" + "c3" * 16, code) == {"wrong code": 1}  # used: nobody else links with it
    assert (contact(MOM_LINE).student, contact(MOM_LINE).role) == (an, "guardian")


def test_an_expired_code_links_nothing(client, fake, line_channel, an):
    code, _, _ = linking.issue_code(an, now=T0)
    with time_machine.travel(T0 + dt.timedelta(hours=24), tick=False):
        assert say(client, fake, MOM_LINE, code) == {"wrong code": 1}
    assert contact(MOM_LINE).student is None


def test_a_code_for_another_channels_student_links_nothing(client, fake, line_channel, an):
    kids = LineChannelFactory(slug="kids", channel_secret=line_channel.channel_secret)
    code, _, channel = linking.issue_code(an, now=T0, channel_slug="kids")
    assert channel == kids
    with time_machine.travel(T0, tick=False):
        assert say(client, fake, MOM_LINE, code, slug="ielts") == {"wrong code": 1}
        assert contact(MOM_LINE).student is None
        assert say(client, fake, MOM_LINE, code, slug="kids") == {"linked": 1}  # on its own channel it works
    assert LineContact.objects.get(line_channel=kids).student == an


def test_brute_force_is_throttled_at_five_wrong_codes_an_hour(client, fake, line_channel, an):
    code, _, _ = linking.issue_code(an, now=T0)
    wrong = [f"WRNG{n}ABC" for n in range(2, 7)]
    with time_machine.travel(T0, tick=False):
        outcomes = [say(client, fake, MOM_LINE, guess) for guess in wrong]
        assert outcomes == [{"wrong code": 1}] * 5
        assert say(client, fake, MOM_LINE, code) == {"throttled": 1}  # even the right one, within the hour
    assert "wait an hour" in fake.replies_to(MOM_LINE)[-1] and contact(MOM_LINE).student is None
    with time_machine.travel(T0 + dt.timedelta(minutes=61), tick=False):
        assert say(client, fake, MOM_LINE, code) == {"linked": 1}
    assert LineLinkCode.objects.get().used_at is not None


def test_a_contact_linked_to_someone_else_is_never_relinked_silently(client, fake, line_channel, an, bao):
    mine, _, _ = linking.issue_code(an, now=T0)
    theirs, _, _ = linking.issue_code(bao, now=T0)
    with time_machine.travel(T0, tick=False):
        say(client, fake, AN_LINE, mine)
        assert say(client, fake, AN_LINE, theirs) == {"linked elsewhere": 1}
        assert "unlink" in fake.replies_to(AN_LINE)[-1]
        assert contact().student == an
        assert LineLinkCode.objects.get(student=bao).used_at is None  # not spent: it still works after an unlink
        assert say(client, fake, AN_LINE, "unlink") == {"unlinked": 1}
        assert say(client, fake, AN_LINE, theirs) == {"linked": 1}
    assert contact().student == bao


def test_an_expired_nonce_links_nothing_and_says_so(client, fake, line_channel, an):
    with time_machine.travel(T0, tick=False):
        say(client, fake, AN_LINE, "link")
        page = urlsplit(fake.last_link_button(AN_LINE))
        client.force_login(an.user)
        to_line = client.get(f"{page.path}?{page.query}&role=student")
        requests.get(to_line["Location"], allow_redirects=False, timeout=5)
    with time_machine.travel(T0 + dt.timedelta(minutes=10), tick=False):
        assert deliver(client, fake.events[-1]) == {"link failed": 1}
    assert contact().student is None
    assert "expired" in fake.replies_to(AN_LINE)[-1] or "過期" in fake.replies_to(AN_LINE)[-1]


def test_a_failed_dialog_or_a_replayed_or_forged_nonce_links_nothing(client, fake, line_channel, an, bao):
    fake.dialog_result = "failed"
    assert account_link(client, fake, AN_LINE, an.user) == {"link failed": 1}
    assert contact().student is None
    fake.dialog_result = "ok"
    assert account_link(client, fake, AN_LINE, an.user) == {"linked": 1}
    nonce = [r for r in fake.requests if r.path == "/dialog/bot/accountLink"][-1].query["nonce"]
    linking.unlink_contact(contact().pk, now=T0, how="test")
    # The same nonce again (in a new event, so not a mere redelivery): spent, links nothing.
    assert deliver(client, fake.send_account_link(AN_LINE, nonce)) == {"link failed": 1}
    assert deliver(client, fake.send_account_link(AN_LINE, "x" * 43)) == {"link failed": 1}  # never issued
    assert contact().student is None


def test_link_from_a_linked_contact_says_so_and_other_messages_are_ignored(client, fake, line_channel, an):
    linking.link_contact(linking.contact_for(line_channel, AN_LINE).pk, an, role="student", now=T0, how="test")
    assert say(client, fake, AN_LINE, "link") == {"already linked": 1}
    assert say(client, fake, AN_LINE, "see you at 8 tonight!") == {"ignored": 1}
    assert fake.replies_to(AN_LINE) == ["此 LINE 帳號已綁定 An。"]
    assert not fake.link_tokens  # no link token asked for


def test_the_link_page_needs_a_login_and_a_student(client, fake, line_channel, staff):
    page = client.get("/integrations/line/link/ielts/?linkToken=abc")
    assert page.status_code == 302 and page["Location"].startswith("/api/auth/login/?next=")
    client.force_login(staff)  # no student profile
    refused = client.get("/integrations/line/link/ielts/?linkToken=abc&role=student")
    assert refused.status_code == 403 and b"no student profile" in refused.content


def test_staff_link_a_contact_in_the_admin_with_history_and_never_over_another_link(client, line_channel, staff, an):
    loose = LineContact.objects.create(line_channel=line_channel, line_user_id=MOM_LINE)
    client.force_login(staff)
    url = f"/admin/integrations/linecontact/{loose.pk}/change/"
    form = {"display_name": "An's mother", "guardian_kinds": ["join_link"], "link_to_student": an.pk}
    answer = client.post(url, {**form, "link_role": "guardian"})
    assert answer.status_code == 302
    loose.refresh_from_db()
    assert (loose.student, loose.role, loose.display_name) == (an, "guardian", "An's mother")
    entry = StateChange.objects.get(object_id=loose.pk, field="student")
    assert entry.to_state == "linked as guardian" and entry.actor_name == staff.username
    other = StudentFactory(display_name="Chi")
    again = client.post(url, {**form, "link_to_student": other.pk, "link_role": "student"})
    assert again.status_code == 200 and b"unlink it first" in again.content
    loose.refresh_from_db()
    assert loose.student == an
    client.post("/admin/integrations/linecontact/", {"action": "unlink", "_selected_action": [loose.pk]})
    loose.refresh_from_db()
    assert loose.student is None and loose.unlinked_at is not None


def test_staff_generate_a_code_for_a_student_in_the_admin(client, line_channel, staff, an):
    client.force_login(staff)
    answer = client.post(
        "/admin/classroom/student/", {"action": "line_code_guardian", "_selected_action": [an.pk]}, follow=True
    )
    assert b"LINE code" in answer.content and LineLinkCode.objects.get().role == "guardian"
    page = client.get(f"/admin/classroom/student/{an.pk}/change/")
    assert page.status_code == 200 and b"LINE contacts" in page.content


def test_the_channel_list_counts_followers_linked_and_reachable(client, line_channel, staff, an):
    LineContact.objects.create(line_channel=line_channel, line_user_id="U1")
    LineContact.objects.create(line_channel=line_channel, line_user_id="U2", following=False)
    LineContact.objects.create(
        line_channel=line_channel, line_user_id="U3", student=an, role="student", linked_at=T0, following=False
    )
    LineContact.objects.create(line_channel=line_channel, line_user_id="U4", student=an, role="guardian", linked_at=T0)
    client.force_login(staff)
    page = client.get("/admin/integrations/linechannel/").content.decode()
    assert '<td class="field-followers">2' in page
    assert '<td class="field-linked">2' in page
    assert '<td class="field-reachable">1' in page


def test_the_api_gives_a_code_unlinks_only_my_contacts_and_names_a_missing_channel(client, line_channel, an, bao):
    mine = LineContact.objects.create(
        line_channel=line_channel, line_user_id=AN_LINE, student=an, role="student", linked_at=T0
    )
    theirs = LineContact.objects.create(
        line_channel=line_channel, line_user_id=MOM_LINE, student=bao, role="guardian", linked_at=T0
    )
    client.force_login(an.user)
    assert client.delete(f"/api/v1/me/line-contacts/{theirs.pk}/").status_code == 404
    assert client.delete(f"/api/v1/me/line-contacts/{mine.pk}/").status_code == 204
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.student is None and theirs.student == bao
    assert client.get("/api/v1/me/").json()["line_contacts"] == []
    bad = client.post("/api/v1/me/line-code/", {"role": "uncle"}, content_type="application/json")
    assert bad.status_code == 400 and "role" in bad.json()["error"]["fields"]
    LineChannelFactory(slug="kids")
    two = client.post("/api/v1/me/line-code/", {}, content_type="application/json")
    assert two.status_code == 400 and "ielts" in two.json()["error"]["fields"]["channel"][0]
    ok = client.post("/api/v1/me/line-code/", {"channel": "kids"}, content_type="application/json")
    assert ok.status_code == 201 and ok.json()["role"] == "student" and len(ok.json()["code"]) == 9


def test_only_a_student_account_gets_a_code(client, line_channel, staff):
    client.force_login(staff)
    assert client.post("/api/v1/me/line-code/", {}, content_type="application/json").status_code == 403


def test_when_line_gives_no_link_token_the_chat_says_try_later(client, fake, line_channel):
    fake.fail_next_with("500", path="/linkToken")
    assert say(client, fake, AN_LINE, "link") == {"link token": 1}
    assert fake.replies_to(AN_LINE) == ["Linking is not available right now. Please try again in a few minutes."]


def test_a_reply_line_refuses_is_logged_and_the_link_stands(client, fake, line_channel, an, caplog):
    code, _, _ = linking.issue_code(an, now=T0)
    fake.fail_next_with("500", path="/reply")
    with time_machine.travel(T0, tick=False):
        assert say(client, fake, MOM_LINE, code) == {"linked": 1}
    assert contact(MOM_LINE).student == an and fake.replies == []
    assert "line reply not sent" in caplog.text and fake.tokens.pop() not in caplog.text


def test_the_sweep_forgets_expired_nonces_and_codes_and_runs_twice(db, line_channel, an):
    assert SWEEPS["expire_line_links"] is linking.expire_line_links
    linking.issue_code(an, now=T0)
    linking.issue_code(an, now=T0 + dt.timedelta(hours=2))
    later = T0 + dt.timedelta(hours=25)
    assert linking.expire_line_links(later) == {"expired": 1}
    assert linking.expire_line_links(later) == {}
    assert LineLinkCode.objects.count() == 1
