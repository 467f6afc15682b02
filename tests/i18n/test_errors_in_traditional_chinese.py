"""Domain errors are told in the reader's language, from the catalogue (issue 21 item 9): the API's error message,
the join page a student opens, and the error raised by the transition itself, in Traditional Chinese.

Requests carry ``Accept-Language: zh-hant`` and run under ``translation.override("zh-hant")`` (see
test_admin_pages_in_vietnamese for why both)."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import translation

from bookings import links
from bookings.errors import ClassFull
from bookings.transitions import book
from core.errors import InvalidTime
from meetings import lifecycle
from meetings.access import JoinRefused, check_join
from tests import factories
from tests.api.conftest import assert_error, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def full_class(meeting, alice, now):
    meeting.capacity = 1
    meeting.save(update_fields=["capacity"])
    book(alice, meeting, now=now)
    return meeting


def test_the_transition_raises_its_error_in_traditional_chinese(full_class, bob, now):
    with translation.override("zh-hant"), pytest.raises(ClassFull) as refused:
        book(bob, full_class, now=now)
    assert str(refused.value) == "「IELTS Practice」已額滿（1 個名額）"
    # The same error in English where no language is chosen: the English text is unchanged.
    with translation.override("en"), pytest.raises(ClassFull) as refused:
        book(bob, full_class, now=now)
    assert str(refused.value) == "'IELTS Practice' is full (1 seats)"


def test_the_api_answers_a_full_class_in_traditional_chinese(full_class, now):
    bob = factories.StudentFactory(display_name="Bob", user=factories.UserFactory(username="bob"))
    with time_machine.travel(now, tick=False), translation.override("zh-hant"):
        response = client_for(bob.user).post(
            "/api/v1/bookings/", {"meeting": full_class.pk}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hant"
        )
    error = assert_error(response, 409, "class_full")  # the code is for machines: never translated
    assert error["message"] == "「IELTS Practice」已額滿（1 個名額）"


def test_a_time_error_names_its_field_in_traditional_chinese(meeting, teacher, staff, now):
    with translation.override("zh-hant"), pytest.raises(InvalidTime) as refused:
        lifecycle.edit_meeting(
            meeting, now=now, actor=staff, start_time=meeting.start_time, end_time=meeting.start_time
        )
    assert str(refused.value) == "end_time 必須晚於 start_time" and refused.value.field == "end_time"


def test_the_join_page_of_a_cancelled_class_in_traditional_chinese(client, meeting, bob, staff, now):
    appointment = book(bob, meeting, now=now).appointment
    lifecycle.cancel_meeting(meeting, now=now, actor=staff, reason="teacher is ill")
    path = urlsplit(links.join_url(appointment.pk)).path
    with translation.override("zh-hant"):
        page = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "這堂課已取消" in page and "cancelled" not in page
    meeting.refresh_from_db()
    with translation.override("zh-hant"), pytest.raises(JoinRefused) as refused:
        check_join(meeting, "student", now + dt.timedelta(minutes=50))
    assert str(refused.value) == "這堂課已取消"
