"""The policy, weekly series and LINE contacts strings (marked after those features merged) come from the catalogue:
a policy refusal and the new-version page in Vietnamese, a calendar feed in its owner's language, the LINE chat
replies in the recipient's language (English for a language the catalogues do not have)."""

import datetime as dt

import icalendar
import pytest
from django.utils import translation

from classroom import policies
from integrations.line.replies import reply_text
from meetings import calendar
from meetings import series as series_domain
from tests import factories

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)


def test_a_policy_refusal_in_vietnamese_and_in_english():
    with translation.override("vi"), pytest.raises(policies.PolicyInvalid) as refused:
        policies.clean_values({"late_cancel_percent": "200"})
    assert refused.value.errors == {"late_cancel_percent": "phần trăm phải từ 0 đến 100, nhận được 200"}
    with translation.override("en"), pytest.raises(policies.PolicyInvalid) as refused:
        policies.clean_values({"late_cancel_percent": "200"})
    assert refused.value.errors == {"late_cancel_percent": "a percentage is from 0 to 100, got 200"}


def test_the_new_policy_version_page_in_vietnamese(admin_client):
    with translation.override("vi"):
        page = admin_client.get("/admin/classroom/policy/add/", HTTP_ACCEPT_LANGUAGE="vi")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Lưu thành phiên bản mới" in text and "Save as a new version" not in text
    assert "toàn trường" in text  # the course choice's empty label


def test_the_calendar_feed_is_in_its_owners_language():
    teacher = factories.TeacherFactory(display_name="Nora", time_zone="Asia/Taipei", language="en")
    weekly = series_domain.create_series(
        teacher=teacher,
        course=factories.CourseFactory(title="IELTS Speaking"),
        title="IELTS Speaking",
        local_start="2027-03-07T19:30",
        time_zone="Asia/Taipei",
        duration_minutes=60,
        rrule="FREQ=WEEKLY;COUNT=2",
        now=NOW,
    )
    mei = factories.StudentFactory(display_name="Mei", time_zone="Asia/Taipei", language="zh-hant")
    series_domain.subscribe(weekly, mei, now=NOW)

    students_feed, _token = calendar.regenerate(now=NOW, student=mei)
    parsed = icalendar.Calendar.from_ical(calendar.build(students_feed, now=NOW))
    assert str(parsed["x-wr-calname"]) == "Mei 的課堂"
    assert "IELTS Speaking，授課老師：Nora。" in str(next(iter(parsed.walk("VEVENT")))["description"])

    teachers_feed, _token = calendar.regenerate(now=NOW, teacher=teacher)
    parsed = icalendar.Calendar.from_ical(calendar.build(teachers_feed, now=NOW))
    assert str(parsed["x-wr-calname"]) == "Classes of Nora"


def test_the_chat_replies_in_the_recipients_language():
    assert reply_text("unlinked", "vi", student="An") == (
        "Tài khoản LINE này không còn liên kết với An. Sẽ không gửi thêm tin nhắn tới đây."
    )
    assert reply_text("linked_student", "zh-hant", student="An") == "完成：此 LINE 帳號已綁定 An，上課連結將傳送至此。"
    assert reply_text("not_linked", "fr") == "This LINE account is not linked to anyone."
    assert reply_text("link_label", "en") == "Link my account"
