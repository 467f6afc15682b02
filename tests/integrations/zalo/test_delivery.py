"""Delivering the outbox through ZNS, against the fake Zalo over real HTTP."""

import datetime as dt
from collections import Counter

from django.db.models import Count

from bookings.sweeps import send_feedback_links, send_join_links
from integrations.zalo.channel import AMBIGUOUS, NO_TEMPLATE
from integrations.zalo.models import ZaloChannel, ZaloMessage
from meetings.models import Meeting
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests.factories import book
from tests.integrations.zalo.conftest import TEMPLATES, enqueue, phone, vietnamese_students

HOURS = dt.timedelta(hours=2)
MINUTE = dt.timedelta(minutes=1)
JOIN_ID, FEEDBACK_ID, REFUND_ID = (
    TEMPLATES["join_link"][0],
    TEMPLATES["feedback_link"][0],
    TEMPLATES["booking_refunded"][0],
)


def states(kind=None):
    rows = Notification.objects.filter(kind=kind) if kind else Notification.objects.all()
    return dict(rows.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


def test_a_class_in_ho_chi_minh_sends_its_join_and_feedback_links_to_phones_once_each(zalo, zalo_channel, meeting, now):
    students = vietnamese_students(3, now=now)
    for student in students:
        book(student, meeting, now=now)
    assert send_join_links(meeting.start_time - 10 * MINUTE)["sent"] == 3
    Meeting.objects.filter(pk=meeting.pk).update(state="in_progress")  # the class ran (its feedback link is due)
    assert send_feedback_links(meeting.end_time - 10 * MINUTE)["sent"] == 3
    assert set(Notification.objects.values_list("channel", flat=True)) == {"zalo"}

    counts = deliver_notifications(meeting.end_time - 9 * MINUTE)
    assert counts == Counter({"sent": 6})
    assert deliver_notifications(meeting.end_time) == Counter()  # twice: nothing more
    phones = [phone(n).lstrip("+") for n in range(3)]
    assert zalo.copies() == Counter({(p, t): 1 for p in phones for t in (JOIN_ID, FEEDBACK_ID)})

    join = next(s for s in zalo.sent if s.phone == phones[0] and s.template_id == JOIN_ID)
    # 13:00 UTC is 20:00 in Ho Chi Minh City; the date is in Vietnamese order; the link is in the button parameter.
    assert join.data["gio"] == "20:00" and join.data["ngay"] == meeting.start_time.strftime("%d/%m/%Y")
    assert join.data["ten"] == "Nguyễn Văn 0" and join.data["lop"] == "IELTS Practice"
    assert join.data["link_vao_lop"].startswith("http") and "/j" in join.data["link_vao_lop"]
    row = Notification.objects.get(kind="join_link", student=students[0])
    assert join.tracking_id == str(row.retry_key) and row.provider_message_id == join.msg_id
    assert row.state == "sent" and row.address == phones[0]
    assert [call.headers["access_token"] for call in zalo.calls("/message/template")] == [
        "zalo-access-token-first-0123456789"
    ] * 6


def test_a_token_that_expires_mid_run_is_refreshed_without_losing_a_message(zalo, zalo_channel, meeting, now):
    students = vietnamese_students(5, now=now)
    enqueue("join_link", students, now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")
    zalo.expire_after(2)  # the token dies after the second message
    assert deliver_notifications(now) == Counter({"sent": 5})
    assert zalo.refreshes == 1
    assert sorted(zalo.copies().values()) == [1] * 5
    calls = [c.headers["access_token"] for c in zalo.calls("/message/template")]
    # Two sent with the first token; the other three answered -124 (nothing sent) and resent with the new token.
    assert calls[:5] == ["zalo-access-token-first-0123456789"] * 5 and len(calls) == 8
    channel = ZaloChannel.objects.get(pk=zalo_channel.pk)
    assert channel.refresh_token == zalo.refresh_token != "zalo-refresh-token-first-0123456789"  # stored at once
    assert channel.access_token != "zalo-access-token-first-0123456789"
    assert channel.token_expires_at == now + dt.timedelta(seconds=zalo.token_seconds)
    assert {s.token for s in zalo.sent[2:]} == {channel.access_token}


def test_a_token_about_to_expire_is_refreshed_before_the_first_message(zalo, zalo_channel, meeting, now):
    ZaloChannel.objects.filter(pk=zalo_channel.pk).update(token_expires_at=now + dt.timedelta(minutes=5))
    enqueue("booking_refunded", vietnamese_students(1, now=now), now=now, meeting=meeting, context={"reason": "x"})
    assert deliver_notifications(now) == Counter({"sent": 1})
    assert zalo.refreshes == 1 and len(zalo.calls("/message/template")) == 1


def test_a_blocked_user_is_failed_with_the_reason_and_the_others_are_sent(zalo, zalo_channel, meeting, now):
    students = vietnamese_students(3, now=now)
    zalo.fail_phone(phone(1).lstrip("+"), -139, "User has refused to receive ZNS from this OA")
    zalo.fail_phone(phone(2).lstrip("+"), -118, "Zalo account not existed")
    enqueue("join_link", students, now=now, meeting=meeting, url_for=lambda s: "https://x.example/j/")
    deliver_notifications(now)
    assert states("join_link") == {"sent": 1, "failed": 2}
    blocked = Notification.objects.get(student=students[1], kind="join_link")
    assert blocked.state == "failed" and blocked.attempts == 1
    assert blocked.last_error == "Zalo ZNS -139: User has refused to receive ZNS from this OA"
    assert "-118" in Notification.objects.get(student=students[2], kind="join_link").last_error
    assert [s.phone for s in zalo.sent] == [phone(0).lstrip("+")]
    assert Notification.objects.filter(kind="delivery_failed").count() == 2  # staff are told
    assert deliver_notifications(now + HOURS) == Counter()


def test_a_kind_without_a_template_is_skipped_never_sent_as_text(zalo, zalo_channel, meeting, now):
    [student] = vietnamese_students(1, now=now)
    [row] = enqueue("class_cancelled", [student], now=now, meeting=meeting, context={"reason": "teacher ill"})
    assert row.channel == "zalo"
    assert deliver_notifications(now) == Counter({"skipped": 1})
    row.refresh_from_db()
    assert row.state == "skipped" and row.last_error == NO_TEMPLATE
    assert zalo.calls("/message/template") == []


def test_a_rate_limit_and_a_500_are_retried_later_and_send_once(zalo, zalo_channel, meeting, now, settings):
    students = vietnamese_students(2, now=now)
    rows = enqueue("join_link", students, now=now, meeting=meeting, url_for=lambda s: "https://x.example/j/")
    zalo.fail_next_with("429", path="/message/template")  # Retry-After: 60, longer than a sweep sleeps
    assert deliver_notifications(now) == Counter({"retrying": 2})
    assert len(zalo.calls("/message/template")) == 1  # the rest of the pass waited too, without a call
    for row in Notification.objects.filter(pk__in=[r.pk for r in rows]):
        assert row.next_attempt_at >= now + dt.timedelta(seconds=60) and "rate limited" in row.last_error
    zalo.fail_next_with("500", path="/message/template")
    assert deliver_notifications(now + HOURS) == Counter({"sent": 1, "retrying": 1})
    assert "500" in Notification.objects.get(state="pending").last_error
    assert deliver_notifications(now + 2 * HOURS) == Counter({"sent": 1})
    assert sorted(zalo.copies().values()) == [1, 1]


def test_a_lost_answer_resends_a_join_link_but_fails_a_refund_notice_as_ambiguous(zalo, zalo_channel, meeting, now):
    link_student, refund_student = vietnamese_students(2, now=now)
    [link] = enqueue("join_link", [link_student], now=now, meeting=meeting, url_for=lambda s: "https://x.example/j/")
    [refund] = enqueue("booking_refunded", [refund_student], now=now, meeting=meeting, context={"reason": "hoàn tiền"})
    zalo.receipts = False  # no receipt comes back
    zalo.fail_next_with("timeout_after_act", 2, path="/message/template")  # both are sent, both answers are lost
    assert deliver_notifications(now) == Counter({"retrying": 2})
    assert ZaloMessage.objects.get(notification=refund).state == "unknown"

    deliver_notifications(now + HOURS)
    assert states("join_link") == {"sent": 1} and states("booking_refunded") == {"failed": 1}
    # The join link went twice (a harmless duplicate, chosen); the refund notice once, and staff are told.
    assert zalo.copies()[(link_student.phone.lstrip("+"), JOIN_ID)] == 2
    assert zalo.copies()[(refund_student.phone.lstrip("+"), REFUND_ID)] == 1
    refund.refresh_from_db()
    assert refund.state == "failed" and refund.last_error == AMBIGUOUS
    assert Notification.objects.filter(kind="delivery_failed").count() == 1
    assert deliver_notifications(now + 2 * HOURS) == Counter()


def test_a_lost_answer_whose_receipt_came_is_marked_sent_without_a_second_call(
    zalo, zalo_channel, meeting, now, client
):
    [student] = vietnamese_students(1, now=now)
    [refund] = enqueue("booking_refunded", [student], now=now, meeting=meeting, context={"reason": "hoàn tiền"})
    zalo.fail_next_with("timeout_after_act", path="/message/template")
    assert deliver_notifications(now) == Counter({"retrying": 1})
    receipt = zalo.events[-1]
    response = client.post("/integrations/zalo/webhook/ielts-vn/", data=receipt.body, **receipt.headers())
    assert response.status_code == 200 and response.json()["outcome"] == "received"
    assert deliver_notifications(now + HOURS) == Counter({"sent": 1})
    assert len(zalo.sent) == 1 and len(zalo.calls("/message/template")) == 1
    refund.refresh_from_db()
    assert refund.state == "sent" and refund.provider_message_id == zalo.sent[0].msg_id


def test_a_refused_refresh_flags_the_channel_and_fails_the_messages(zalo, zalo_channel, meeting, now):
    ZaloChannel.objects.filter(pk=zalo_channel.pk).update(token_expires_at=now, refresh_token="revoked")
    enqueue("join_link", vietnamese_students(2, now=now), now=now, meeting=meeting, url_for=lambda s: "https://x/j/")
    deliver_notifications(now)
    assert states("join_link") == {"failed": 2}
    channel = ZaloChannel.objects.get(pk=zalo_channel.pk)
    assert channel.auth_failed_at == now and "-14014" in channel.auth_error
    assert "revoked" not in channel.auth_error and SECRET_NOT_IN(
        Notification.objects.values_list("last_error", flat=True)
    )
    assert zalo.calls("/message/template") == [] and zalo.refreshes == 1
    enqueue("feedback_link", list(channel_students()), now=now, meeting=meeting, url_for=lambda s: "https://x/f/")
    deliver_notifications(now + HOURS)
    assert states("feedback_link") == {"failed": 2}
    assert zalo.refreshes == 1  # flagged: not asked again until staff reconnect the OA


def SECRET_NOT_IN(errors) -> bool:
    return not any("zalo-app-secret-key" in e or "zalo-refresh-token" in e for e in errors)


def channel_students():
    from classroom.models import Student

    return Student.objects.filter(phone__startswith="+84")


def test_a_template_parameter_without_a_value_fails_naming_it(zalo, zalo_channel, meeting, now):
    template = zalo_channel.templates.get(kind="booking_refunded")
    template.parameters = {**template.parameters, "ten_con": "student"}  # a guardian's value: a student has none
    template.save()
    [student] = vietnamese_students(1, now=now)
    [row] = enqueue("booking_refunded", [student], now=now, meeting=meeting, context={"reason": "x"})
    deliver_notifications(now)
    row.refresh_from_db()
    assert row.state == "failed"
    assert row.last_error == f"Zalo template {REFUND_ID} (booking_refunded): no value for ten_con"
    assert zalo.calls("/message/template") == []


def test_every_message_is_in_vietnamese_whatever_the_readers_language(zalo, zalo_channel, meeting, now):
    [student] = vietnamese_students(1, now=now)
    student.language = "en"
    student.save()
    enqueue("class_rescheduled", [student], now=now, meeting=meeting)
    assert deliver_notifications(now) == Counter({"sent": 1})
    [sent] = zalo.sent
    text = sent.data["noi_dung"]
    assert "IELTS Practice" in text and "20:00" in text and meeting.start_time.strftime("%d/%m/%Y") in text
    assert "Your class" not in text  # the Vietnamese template, not the English one
