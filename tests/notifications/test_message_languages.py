"""Messages render from the catalogues in the recipient's language, the reasons inside them too (README,
"Languages"). Expected texts are read from the catalogue with the same msgid, so the test fails if a message is not
translated, is translated from somewhere else, or its reason stays English."""

import datetime as dt
import string

import pytest
from django.core import mail
from django.utils import translation

from bookings.sweeps import send_join_links
from core.i18n import Reason
from core.models import StateChange
from meetings import lifecycle, review, sweeps
from notifications import messages
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book

pytestmark = pytest.mark.django_db
MINUTE = dt.timedelta(minutes=1)


def text_of(kind, student):
    return Notification.objects.get(kind=kind, student=student).payload["text"]


@pytest.fixture
def mei(db):
    return StudentFactory(display_name="Mei", language="zh-hant", time_zone="Asia/Taipei")


@pytest.fixture
def lan(db):
    return StudentFactory(display_name="Lan", language="vi", time_zone="Asia/Ho_Chi_Minh")


def test_a_zh_hant_student_gets_the_join_link_in_traditional_chinese(meeting, mei, now):
    book(mei, meeting, now=now)
    send_join_links(meeting.start_time - 10 * MINUTE)
    text = text_of("join_link", mei)
    # 13:00 UTC is 21:00 in Taipei; the words are the catalogue's.
    assert text.startswith("您的課程「IELTS Practice」將於 21:00（Asia/Taipei）開始。加入連結：http")
    assert "Your class" not in text


def test_a_teachers_cancellation_reason_is_told_in_each_students_language(meeting, mei, lan, alice, now):
    for student in (mei, lan, alice):
        book(student, meeting, now=now)
    teacher = meeting.teacher
    teacher.display_name, teacher.language = "Lin Mei", "zh-hant"
    teacher.save()
    reason = Reason(translation.gettext_noop("cancelled by %(name)s"), name="Lin Mei")

    lifecycle.cancel_meeting(meeting, now=now, actor=teacher.user, reason=reason)

    assert text_of("class_cancelled", mei) == (
        "您的課程「IELTS Practice」（2026-07-01 21:00，Asia/Taipei）已取消：由 Lin Mei 取消。款項將退還。"
    )
    assert text_of("class_cancelled", lan) == (
        "Lớp 'IELTS Practice' ngày 2026-07-01 lúc 20:00 (Asia/Ho_Chi_Minh) đã bị hủy: do Lin Mei hủy. "
        "Bạn sẽ được hoàn tiền."
    )
    assert "cancelled: cancelled by Lin Mei." in text_of("class_cancelled", alice)
    teachers = Notification.objects.get(kind="class_cancelled", teacher=teacher).payload["text"]
    assert teachers.endswith("已取消：由 Lin Mei 取消。")
    # The history is written once for every reader: in English.
    cancelled = StateChange.objects.get(meeting=meeting, content_type__model="meeting", to_state="cancelled")
    assert cancelled.reason == "cancelled by Lin Mei"


def test_a_reason_staff_typed_stays_as_typed_and_the_words_around_it_are_translated(meeting, mei, staff, now):
    book(mei, meeting, now=now)
    lifecycle.cancel_meeting(meeting, now=now, actor=staff, reason="老師生病 (teacher is ill)")
    assert text_of("class_cancelled", mei).endswith("已取消：老師生病 (teacher is ill)。款項將退還。")


def test_the_minimum_participants_reason_is_translated(now, lan, mei):
    course = CourseFactory(min_participants=3, capacity=5)
    small = MeetingFactory(
        teacher=TeacherFactory(),
        course=course,
        start_time=now + dt.timedelta(hours=2),
        end_time=now + dt.timedelta(hours=3),
    )
    book(lan, small, now=now)
    book(mei, small, now=now)
    sweeps.check_minimum_participants(small.start_time - 60 * MINUTE)
    assert ": chỉ 2 học viên đăng ký, tối thiểu cần 3. " in text_of("class_cancelled", lan)
    assert "：僅 2 位學生報名，未達最低 3 位。" in text_of("class_cancelled", mei)


def test_the_no_show_refund_reason_is_translated():
    context = {"title": "T", "date": "2026-07-01", "zone": "Asia/Taipei", "reason": review.NO_SHOW_REFUND_REASON}
    assert messages.render("booking_refunded", "student", "zh-hant", context).endswith("已退款：老師未出席。")
    assert messages.render("booking_refunded", "student", "vi", context).endswith("hoàn tiền: giáo viên không có mặt.")
    assert messages.render("booking_refunded", "student", "en", context).endswith(
        "refunded: the teacher did not attend."
    )


def test_every_template_has_both_translations():
    for kind, role in messages.TEMPLATES:
        english = messages.template(kind, role, "en")
        for language in ("vi", "zh-hant"):
            translated = messages.template(kind, role, language)
            if role != "staff":  # staff alerts are in English until staff have a language (README, "Languages")
                assert translated != english, (kind, role, language)
            assert set(_fields(translated)) == set(_fields(english)), (kind, role, language)


def _fields(template):
    return [name for _text, name, _spec, _conv in string.Formatter().parse(template) if name]


def test_an_unknown_template_is_a_lookup_error():
    with pytest.raises(LookupError, match="no template for nothing to a student"):
        messages.render("nothing", "student", "vi", {})


def test_an_email_is_sent_with_its_subject_and_text_in_the_readers_language(meeting, mei, now, settings):
    """A student without LINE gets e-mail: the subject is written with the text, in their language (delivery runs
    in no one's language)."""
    settings.NOTIFICATION_CHANNEL = "live"
    book(mei, meeting, now=now)
    lifecycle.cancel_meeting(meeting, now=now, reason=Reason(translation.gettext_noop("the teacher did not attend")))
    row = Notification.objects.get(kind="class_cancelled", student=mei)
    assert row.channel == "email" and row.payload["subject"] == "您的課程已取消"
    deliver_notifications(now)
    [email] = [m for m in mail.outbox if m.to == [mei.email]]
    assert email.subject == "您的課程已取消"
    assert email.body.endswith("已取消：老師未出席。款項將退還。")


def test_every_kind_has_a_subject_in_every_language():
    for kind in Notification.Kind.values:
        assert messages.subject(kind, "en")
    assert messages.subject("join_link", "vi") != messages.subject("join_link", "en")
