import datetime as dt

from notifications import outbox
from notifications.models import Notification


def test_enqueue_keeps_the_first_of_duplicates_within_and_across_calls(meeting, alice, now):
    recipient = outbox.for_student(alice)
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
    rows = [outbox.message("class_open", outbox.for_student(s), now=now, meeting=meeting) for s in (alice, bob)]
    outbox.enqueue(rows)
    stored = list(Notification.objects.order_by("id"))
    assert stored[0].payload == {"text": "您的課程「IELTS Practice」已開放，開始時間 20:00（Asia/Ho_Chi_Minh）。"}
    assert stored[0].payload_hash == stored[1].payload_hash
    assert stored[0].dedupe_key != stored[1].dedupe_key
