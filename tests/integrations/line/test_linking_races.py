"""Races on real PostgreSQL connections: one code sent by two LINE users at once links one of them; one contact
sending two students' codes at once is linked to one; the whole flow through the webhook commits on its own."""

import datetime as dt

import pytest
import time_machine

from integrations.line import linking
from integrations.line.models import LineContact, LineLinkCode
from tests.concurrency import race
from tests.factories import StudentFactory

T0 = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_one_code_sent_by_two_users_at_once_links_exactly_one(line_channel):
    an = StudentFactory(display_name="An")
    for _round in range(3):
        LineContact.objects.all().delete()
        code, _, _ = linking.issue_code(an, role="guardian", now=T0)
        contacts = [linking.contact_for(line_channel, f"U{n:032x}") for n in range(2)]
        outcomes = race(*[lambda c=c, k=code: linking.redeem_code(c.pk, k, now=T0)[0] for c in contacts])
        assert sorted(map(str, outcomes)) == ["linked", "wrong code"], outcomes
        assert LineContact.objects.filter(student=an).count() == 1
        assert LineLinkCode.objects.filter(used_at__isnull=False).count() == _round + 1


def test_one_contact_sending_two_students_codes_at_once_is_linked_to_one(line_channel):
    an, bao = StudentFactory(display_name="An"), StudentFactory(display_name="Bao")
    contact = linking.contact_for(line_channel, "U" + "a" * 32)
    codes = [linking.issue_code(s, now=T0)[0] for s in (an, bao)]
    outcomes = race(*[lambda c=c: linking.redeem_code(contact.pk, c, now=T0)[0] for c in codes])
    assert sorted(map(str, outcomes)) == ["linked", "linked elsewhere"], outcomes
    contact.refresh_from_db()
    assert contact.student in (an, bao) and LineLinkCode.objects.filter(used_at__isnull=False).count() == 1


def test_a_code_through_the_webhook_commits_and_a_redelivery_is_a_no_op(client, line, line_channel):
    an = StudentFactory(display_name="An")
    code, _, _ = linking.issue_code(an, now=T0)
    with time_machine.travel(T0, tick=False):
        webhook = line.send_text("U" + "b" * 32, code)
        first = client.post("/integrations/line/webhook/ielts/", webhook.body, **webhook.headers())
        again = client.post("/integrations/line/webhook/ielts/", webhook.body, **webhook.headers())
    assert first.json()["events"] == {"linked": 1} and again.json()["events"] == {"duplicate": 1}
    assert LineContact.objects.get().student == an and len(line.replies) == 1
