"""Each person's channel order: the first reachable channel is used (a Vietnamese phone with Zalo consent -> Zalo,
a linked LINE contact -> LINE, else e-mail), the school default per country unless they chose their own."""

from collections import Counter

from django.core import mail

from classroom.models import Student
from notifications import outbox
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests.integrations.zalo.conftest import TEMPLATES, enqueue, vietnamese_students
from tests.notifications.line_helpers import followers

JOIN_ID = TEMPLATES["join_link"][0]


def test_a_mixed_class_gets_each_student_on_their_first_reachable_channel(
    zalo, zalo_channel, line, line_channel, meeting, now
):
    [zalo_student] = vietnamese_students(1, now=now)  # VN phone + consent: VN's order starts with Zalo
    [line_student] = followers(line_channel, 1)  # a LINE contact, no phone: the school's (TW) order starts with LINE
    email_student = Student.objects.create(display_name="Emma", email="emma@example.com", time_zone="Asia/Taipei")
    no_consent = Student.objects.create(  # a VN phone without consent is not reachable on Zalo: e-mail
        display_name="Trần Thị B", email="b@example.com", phone="0912 345 679", time_zone="Asia/Ho_Chi_Minh"
    )
    prefers_email = vietnamese_students(1, now=now, start=50, email="c@example.com", channel_order="email,zalo")[0]
    both = vietnamese_students(1, now=now, start=60)[0]  # Zalo and LINE: VN's order says Zalo first
    both_line = followers(line_channel, 1, start=7)[0]
    Student.objects.filter(pk=both_line.pk).update(phone="+84912340061", zalo_consent=True, zalo_consent_at=now)
    both_line.refresh_from_db()
    people = [zalo_student, line_student, email_student, no_consent, prefers_email, both, both_line]

    enqueue("join_link", people, now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")
    channels = dict(Notification.objects.values_list("student_id", "channel"))
    assert channels == {
        zalo_student.pk: "zalo",
        line_student.pk: "line",
        email_student.pk: "email",
        no_consent.pk: "email",
        prefers_email.pk: "email",
        both.pk: "zalo",
        both_line.pk: "zalo",
    }
    deliver_notifications(now)
    assert set(Notification.objects.filter(kind="join_link").values_list("state", flat=True)) == {"sent"}
    assert zalo.copies() == Counter({(p, JOIN_ID): 1 for p in ("84912340000", "84912340060", "84912340061")})
    assert [call.to for call in line.accepted] == [[line_student.line_user_id]]
    assert sorted(m.to[0] for m in mail.outbox) == ["b@example.com", "c@example.com", "emma@example.com"]


def test_the_country_default_and_a_persons_own_order(settings, db, now):
    settings.NOTIFICATION_CHANNEL = "live"
    settings.NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY = {"VN": "zalo,email", "TW": "email"}
    [vn] = vietnamese_students(1, now=now, email="vn@example.com")
    assert outbox.channel_order(vn) == ["zalo", "email"]
    vn.channel_order = "email"
    assert [r.channel for r in outbox.for_student(vn, "join_link")] == ["email"]
    nobody = Student.objects.create(display_name="X", phone="+84912340099")  # no consent, no e-mail
    assert [(r.channel, r.address) for r in outbox.for_student(nobody, "join_link")] == [("none", "")]
    taiwan = Student.objects.create(display_name="Y", phone="+886912345678", zalo_consent=True, zalo_consent_at=now)
    assert outbox.channel_order(taiwan) == ["email"]
    taiwan.channel_order = "zalo,email"  # ZNS reaches Vietnamese numbers only
    assert [r.channel for r in outbox.for_student(taiwan, "join_link")] == ["none"]
