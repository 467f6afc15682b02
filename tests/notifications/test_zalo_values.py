"""The values of a ZNS template, for every kind Zalo carries: Vietnamese text, Vietnamese dates, the reader's zone."""

import datetime as dt

import pytest

from integrations.zalo.models import TEMPLATE_KINDS
from notifications.messages import render, zalo_values

START = dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=1)
CONTEXT = {
    "title": "IELTS Practice",
    "name": "Nguyễn Văn An",
    "url": "https://x.example/j/1/",
    "reason": "giáo viên bị ốm",
    "day": "01/12/2026",
    "city": "Ho Chi Minh",
    "old_start": "19:00",
    "series_zone": "Asia/Taipei",
}


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_every_kind_has_its_vietnamese_message_in_the_readers_zone(kind):
    values = zalo_values(kind, "student", CONTEXT, START, END, "Asia/Ho_Chi_Minh")
    assert values["date"] == "01/12/2026" and values["start"] == "20:00" and values["end"] == "21:00"
    english = render(kind, "student", "en", {**CONTEXT, **values})
    assert values["message"] and values["message"] != english  # translated, not the English text
    assert values["name"] == "Nguyễn Văn An" and values["url"] == CONTEXT["url"]


def test_a_reason_is_given_in_vietnamese_and_a_student_without_a_meeting_gets_no_times():
    from django.utils import translation

    from meetings.review import NO_SHOW_REFUND_REASON

    context = {"title": "IELTS Practice", "reason": NO_SHOW_REFUND_REASON, "date": "", "zone": "UTC"}
    values = zalo_values("booking_refunded", "student", context, None, None, "UTC")
    with translation.override("vi"):
        vietnamese = str(NO_SHOW_REFUND_REASON)
    assert values["reason"] == vietnamese != NO_SHOW_REFUND_REASON.source()
    assert vietnamese in values["message"] and "start" not in values
