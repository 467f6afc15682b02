"""Done means, end to end against the LINE fake over real HTTP: a student who booked on the web links their LINE by
account link and a guardian links with a code; the join link of their next class reaches both exactly once; after
the guardian unlinks, only the student gets the feedback link."""

import datetime as dt
from collections import Counter

import pytest
import time_machine

from core.runner import run_sweeps
from integrations.line.models import LineContact, LineWebhookEvent
from notifications.models import Notification
from tests.factories import StudentFactory, UserFactory, book
from tests.integrations.line.linking_helpers import account_link, deliver, say

AN_LINE = "U" + "a1" * 16
MOM_LINE = "U" + "b2" * 16


@pytest.fixture
def an(db):
    user = UserFactory(username="an")
    return StudentFactory(display_name="An", user=user, email="an@example.com", time_zone="Asia/Taipei")


def links_received(line) -> Counter:
    """(LINE user, kind of link) -> copies LINE accepted for them."""
    counts = Counter()
    for call in line.accepted:
        kinds = [m["baseUrl"].rsplit("/", 1)[1] for m in call.messages if m["type"] == "imagemap"]
        for user in call.to:
            counts[(user, kinds[0] if kinds else "text")] += 1
    return counts


def test_student_and_guardian_link_and_each_gets_the_join_link_once_then_only_the_student_the_feedback(
    client, line, line_channel, settings, an, meeting, staff
):
    settings.LINE_ACCESS_BASE_URL = line.url
    start, end = meeting.start_time, meeting.end_time
    with time_machine.travel(start - dt.timedelta(hours=3), tick=False):
        book(an, meeting, now=start - dt.timedelta(hours=3))  # booked on the web, before any LINE

        # An links her own LINE by LINE's account link.
        assert deliver(client, line.follow(AN_LINE)) == {"created": 1}
        assert account_link(client, line, AN_LINE, an.user) == {"linked": 1}
        assert line.replies_to(AN_LINE)[-1] == "Done: this LINE account is linked to An. Class links will come here."

        # Her mother links with a code An asked for in the app.
        client.force_login(an.user)
        answer = client.post("/api/v1/me/line-code/", {"role": "guardian"}, content_type="application/json")
        assert answer.status_code == 201, answer.content
        code = answer.json()["code"]
        assert answer.json()["expires_at"] == "2026-07-02T10:00:00Z" and answer.json()["channel"] == "ielts"
        client.logout()
        deliver(client, line.follow(MOM_LINE))
        assert say(client, line, MOM_LINE, code.lower()) == {"linked": 1}  # typed in lower case: still the code
        assert "parent or guardian of An" in line.replies_to(MOM_LINE)[-1]
        # The guardian also wants the feedback link: staff tick it in the admin (the join link is the default).
        mom = LineContact.objects.get(line_user_id=MOM_LINE)
        assert mom.guardian_kinds == ["join_link"]
        client.force_login(staff)
        form = {"display_name": "An's mother", "guardian_kinds": ["join_link", "feedback_link"]}
        assert client.post(f"/admin/integrations/linecontact/{mom.pk}/change/", form).status_code == 302
        client.logout()
        mom.refresh_from_db()
        assert mom.guardian_kinds == ["join_link", "feedback_link"] and mom.student == an

        client.force_login(an.user)
        me = client.get("/api/v1/me/").json()
        client.logout()
    assert [(c["channel"], c["line_user_id"], c["role"], c["following"]) for c in me["line_contacts"]] == [
        ("ielts", AN_LINE, "student", True),
        ("ielts", MOM_LINE, "guardian", True),
    ]
    assert all(c["linked_at"] for c in me["line_contacts"])

    join_moments = [start - dt.timedelta(minutes=10), start - dt.timedelta(minutes=9), start]
    for moment in join_moments + join_moments:  # every sweep twice
        run_sweeps(moment, record=False)
    received = links_received(line)
    assert received[(AN_LINE, "join_link")] == 1 and received[(MOM_LINE, "join_link")] == 1
    mom_texts = [m[0]["text"] for m in line.received_by(MOM_LINE)]
    assert any(text.startswith("Your child An's class 'IELTS Practice' starts at") for text in mom_texts)
    assert not any("Your child" in m[0]["text"] for m in line.received_by(AN_LINE))

    with time_machine.travel(start + dt.timedelta(minutes=5), tick=False):
        assert say(client, line, MOM_LINE, "unlink") == {"unlinked": 1}
    assert "no longer linked to An" in line.replies_to(MOM_LINE)[-1]

    feedback_moments = [end - dt.timedelta(minutes=10), end, end + dt.timedelta(minutes=10)]
    for moment in feedback_moments + feedback_moments:
        run_sweeps(moment, record=False)
    received = links_received(line)
    assert received[(AN_LINE, "feedback_link")] == 1
    assert received[(MOM_LINE, "feedback_link")] == 0
    assert received[(MOM_LINE, "join_link")] == 1 and received[(AN_LINE, "join_link")] == 1  # still once each
    # One outbox row per (meeting, contact, kind).
    rows = Counter(Notification.objects.filter(meeting=meeting, student=an).values_list("kind", "address"))
    assert rows[("join_link", AN_LINE)] == 1 and rows[("join_link", MOM_LINE)] == 1
    assert rows[("feedback_link", AN_LINE)] == 1 and ("feedback_link", MOM_LINE) not in rows


def test_a_redelivered_account_link_event_changes_nothing_and_gets_no_second_reply(
    client, line, line_channel, settings, an
):
    settings.LINE_ACCESS_BASE_URL = line.url
    deliver(client, line.follow(AN_LINE))
    assert account_link(client, line, AN_LINE, an.user) == {"linked": 1}
    replies = len(line.replies)
    assert deliver(client, line.events[-1]) == {"duplicate": 1}
    assert len(line.replies) == replies
    assert LineContact.objects.get(line_user_id=AN_LINE).student == an
    assert LineWebhookEvent.objects.filter(event_type="accountLink").count() == 1
