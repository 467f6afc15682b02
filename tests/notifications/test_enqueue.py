import datetime as dt

import pytest

from notifications import outbox
from notifications.models import Notification


def test_enqueue_keeps_the_first_of_duplicates_within_and_across_calls(meeting, alice, now):
    recipient = outbox.for_student(alice, "class_open")[0]
    first = outbox.message("class_open", recipient, now=now, meeting=meeting)
    twin = outbox.message("class_open", recipient, now=now + dt.timedelta(seconds=5), meeting=meeting)
    assert outbox.enqueue([first, twin]) == 2
    outbox.enqueue([outbox.message("class_open", recipient, now=now, meeting=meeting)])
    row = Notification.objects.get()
    assert row.dedupe_key == f"class_open:{meeting.pk}:student:{alice.pk}"
    assert row.created_at == now and row.retry_key == first.retry_key


def test_the_payload_round_trips_unicode_and_identical_messages_share_a_hash(meeting, alice, bob, now):
    alice.language, bob.language = "zh-hant", "zh-hant"
    bob.time_zone = alice.time_zone
    rows = [
        outbox.message("class_open", outbox.for_student(s, "class_open")[0], now=now, meeting=meeting)
        for s in (alice, bob)
    ]
    outbox.enqueue(rows)
    stored = list(Notification.objects.order_by("id"))
    assert stored[0].payload == {"text": "您的課程「IELTS Practice」已開放，開始時間 20:00（Asia/Ho_Chi_Minh）。"}
    assert stored[0].payload_hash == stored[1].payload_hash
    assert stored[0].dedupe_key != stored[1].dedupe_key


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_keeps_its_rows_on_postgresql(meeting, alice, bob, now):
    """Autocommit: the COPY staging table empties itself at commit, which must not be before its rows are copied."""
    from django.db import connection

    assert not connection.in_atomic_block
    rows = [
        outbox.message("class_open", outbox.for_student(s, "class_open")[0], now=now, meeting=meeting)
        for s in (alice, bob)
    ]
    assert outbox.enqueue(rows) == 2
    stored = Notification.objects.order_by("id")
    assert [r.dedupe_key for r in stored] == [f"class_open:{meeting.pk}:student:{s.pk}" for s in (alice, bob)]
    assert outbox.enqueue(rows) == 2 and stored.count() == 2  # a second call still keeps the first of duplicates
