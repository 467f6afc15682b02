"""R6 Zalo with lost answers: ZNS has no retry key, so a message whose answer was lost may or may not have reached the
student. The fake fails 30% of its calls (500, 429, timeouts, and timeouts after it has sent the message); the
delivery sweep runs over a simulated clock until nothing is pending. Counted, per kind, as README ("Zalo") promises:

* join links: every student gets theirs at least once; a lost answer may resend it (the duplicates are counted);
* refund notices: never twice; each is sent (once) or, when an answer was lost and no receipt came, failed as
  ambiguous for staff (counted, with how many of those Zalo had in fact delivered).
"""

import datetime as dt
from collections import Counter

import pytest

from integrations.zalo.channel import AMBIGUOUS
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests.integrations.zalo.conftest import TEMPLATES, enqueue, vietnamese_students, zalo, zalo_channel  # noqa: F401  (the fixtures)
from tests.reliability.scenarios import Tally, report

pytestmark = pytest.mark.django_db(transaction=True)

STUDENTS = 12
STEP = dt.timedelta(hours=2)  # past any Retry-After and backoff: every pending row is due again


def test_r6_lost_zns_answers_resend_links_and_never_duplicate_a_refund(zalo, zalo_channel, meeting, now, settings):  # noqa: F811
    settings.NOTIFICATION_MAX_ATTEMPTS = 50
    zalo.receipts = False  # the harder case: no receipt settles a lost answer
    students = vietnamese_students(STUDENTS, now=now)
    enqueue("join_link", students, now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")
    enqueue("booking_refunded", students, now=now, meeting=meeting, context={"reason": "lớp bị hủy"})
    zalo.chaos(0.3, seed=5)
    clock, rounds = now, 0
    while Notification.objects.filter(state="pending").exists():
        deliver_notifications(clock)
        clock, rounds = clock + STEP, rounds + 1
        assert rounds < 40

    copies = zalo.copies()
    phones = [s.phone.lstrip("+") for s in students]
    join = Counter(copies[(p, TEMPLATES["join_link"][0])] for p in phones)
    refund = [copies[(p, TEMPLATES["booking_refunded"][0])] for p in phones]
    refunds = Notification.objects.filter(kind="booking_refunded")
    ambiguous = refunds.filter(state="failed", last_error=AMBIGUOUS)
    delivered_anyway = sum(1 for row in ambiguous if copies[(row.address, TEMPLATES["booking_refunded"][0])] == 1)
    assert join[0] == 0  # no join link lost
    assert set(Notification.objects.filter(kind="join_link").values_list("state", flat=True)) == {"sent"}
    assert max(refund) <= 1  # never a second refund notice
    assert refunds.filter(state="sent").count() + ambiguous.count() == STUDENTS  # each sent, or handed to staff
    assert all(copies[(r.address, TEMPLATES["booking_refunded"][0])] == 1 for r in refunds.filter(state="sent"))
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    report(
        Tally("R6 zalo lost answers", 1, 2 * STUDENTS, 2 * STUDENTS - ambiguous.count(), duplicates, join[0]),
        injected=dict(zalo.injected),
        join_links_resent=sum(count for n, count in join.items() if n > 1),
        refunds_sent=refunds.filter(state="sent").count(),
        refunds_ambiguous=ambiguous.count(),
        ambiguous_that_zalo_had_sent=delivered_anyway,
        rounds=rounds,
    )
    assert injected_lost_answers(zalo) > 0  # the scenario really lost answers


def injected_lost_answers(fake) -> int:
    return fake.injected["timeout"] + fake.injected["timeout_after_act"] + fake.injected["500"]
