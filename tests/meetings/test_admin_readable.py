"""Readable admin pages (issue 21 item 8): short list columns, money for people, history in words, the outbox's
text, the lifecycle page's units and charts, and the links on the admin's home page."""

import datetime as dt
import re
from decimal import Decimal
from html import escape

import pytest
import time_machine
from django.urls import reverse

from bookings.models import Payout
from bookings.sweeps import send_join_links
from bookings.transitions import create_payout
from meetings import sweeps
from meetings.admin import MeetingAdmin
from notifications.admin import NotificationAdmin
from notifications.models import Notification
from tests.admin_users import staff_with
from tests.factories import CourseFactory, MeetingFactory, book

pytestmark = pytest.mark.django_db
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def sam(client, staff, now):
    client.force_login(staff)
    with time_machine.travel(now, tick=False):
        yield client


def cells(page: str, column: str) -> list[str]:
    return re.findall(rf'<td class="field-{column}[^"]*">(.*?)</td>', page, re.S)


def test_the_key_lists_keep_to_a_few_short_columns():
    # What fits at 1400 px with the admin's sidebar: at most eight columns on the meeting list, nine on the outbox.
    assert len(MeetingAdmin.list_display) <= 8 and "end_time" not in MeetingAdmin.list_display
    assert len(NotificationAdmin.list_display) <= 9 and "payload" not in NotificationAdmin.list_display


def test_the_meeting_list_shows_one_time_column_in_the_teachers_zone_with_utc_below(sam, meeting):
    page = sam.get(reverse("admin:meetings_meeting_changelist")).content.decode()
    [starts] = cells(page, "starts")
    assert "2026-07-01 09:00 America/New_York" in starts and "2026-07-01 13:00 UTC" in starts


def test_money_has_thousands_separators_and_the_currencys_places(sam, teacher, alice, now):
    meeting = MeetingFactory(teacher=teacher, course=CourseFactory(price=Decimal("240000"), currency="VND"))
    book(alice, meeting, now=now)
    page = sam.get(reverse("admin:bookings_booking_changelist")).content.decode()
    assert cells(page, "price") == ["240,000 VND"]
    taipei = MeetingFactory(teacher=teacher, course=CourseFactory(price=Decimal("1500"), currency="TWD"))
    create_payout(taipei, gross=Decimal("1500"), rate=Decimal("0.2"), now=now)
    page = sam.get(reverse("admin:bookings_payout_changelist")).content.decode()
    net = Payout.objects.get(meeting=taipei).net
    assert net >= 1000 and cells(page, "net_amount") == [f"{net:,.2f} TWD"]


def test_history_is_told_in_words(sam, meeting, alice, now):
    book(alice, meeting, now=now)
    send_join_links(meeting.start_time - 10 * MINUTE)
    sweeps.open_due_meetings(meeting.start_time)
    sweeps.close_due_meetings(meeting.end_time + 5 * MINUTE)
    page = sam.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert "join link sent" in page and "booking confirmed" in page and "class closed" in page
    assert "closed 5 minutes after the end" in page
    assert "join_link_state" not in page and "MEETING_AUTO_CLOSE_DELAY_MINUTES" not in page
    listing = sam.get(reverse("admin:core_statechange_changelist")).content.decode()
    assert "join link sent" in listing and ">join_link_state<" not in listing  # (a filter's URL may name it)


def test_the_outbox_shows_the_message_text_not_json(sam, meeting, alice, now):
    book(alice, meeting, now=now)
    send_join_links(meeting.start_time - 10 * MINUTE)
    notification = Notification.objects.filter(kind="join_link").first()
    text = escape(notification.payload["text"])
    listing = sam.get(reverse("admin:notifications_notification_changelist")).content.decode()
    assert text[:40] in listing and '{"text"' not in listing and "{&quot;text&quot;" not in listing
    page = sam.get(reverse("admin:notifications_notification_change", args=[notification.pk])).content.decode()
    assert text in page and "{&quot;text&quot;" not in page and 'name="payload"' not in page


def test_the_lifecycle_page_gives_units_and_draws_its_charts(sam, meeting, alice, now):
    book(alice, meeting, now=now)
    sweeps.open_due_meetings(meeting.start_time + 3 * dt.timedelta(seconds=1))
    sweeps.close_due_meetings(meeting.end_time + 5 * MINUTE)
    with time_machine.travel(meeting.end_time + 10 * MINUTE, tick=False):
        page = sam.get(reverse("admin:meetings_lifecycle")).content.decode()
    assert page.count("<svg") >= 2 and "open lateness, mean (s)" in page
    assert re.search(r'<rect class="opened" [^>]*height="[1-9]', page), "a bar for the class opened today"
    assert re.search(r'<rect class="mean" [^>]*><title>07-01 mean: 3 s</title>', page)


def test_the_admin_home_links_to_the_review_queue_and_the_lifecycle_page(sam, client):
    page = sam.get(reverse("admin:index")).content.decode()
    assert reverse("admin:meetings_review_queue") in page and reverse("admin:meetings_lifecycle") in page
    client.force_login(staff_with("nora", "notifications.view_notification"))
    page = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:meetings_review_queue") not in page and reverse("admin:meetings_lifecycle") not in page
