"""A real browser (Debian's Chromium driven by Playwright) resolves a no-show in the admin's review queue.

Playwright's own browser download is not used: ``.ci/run`` installs Debian's ``chromium`` with apt when it is
missing and sets CI=true, and there this test must run. Elsewhere it is skipped only when Chromium is absent.
"""

import datetime as dt
import os
from decimal import Decimal

import pytest

from bookings.models import Booking, Payout
from core.models import StateChange
from meetings.models import Meeting
from meetings.settlement import settle
from tests.factories import CourseFactory, MeetingFactory, StaffFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import run_and_close

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (.ci/run installs it; in CI this test never skips)",
    ),
]


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def no_show(now):
    meeting = MeetingFactory(
        teacher=TeacherFactory(display_name="Charlie", time_zone="America/New_York"),
        course=CourseFactory(price=Decimal("15.00")),
        title="IELTS Practice",
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    for name in ("Alice", "Bob"):
        book(StudentFactory(display_name=name), meeting, now=now)
    meeting = run_and_close(meeting)  # the teacher never came
    settle(meeting, now=meeting.closed_at)
    return Meeting.objects.get(pk=meeting.pk)


def test_staff_confirm_a_no_show_in_the_review_queue(browser, live_server, no_show):
    staff = StaffFactory(username="sam", password=PASSWORD)
    page = browser.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/meetings/meeting/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.click("text=Review queue")
    assert page.url == f"{live_server.url}/admin/meetings/meeting/review/"

    item = page.locator(f"#review-{no_show.pk}")
    assert "teacher not seen" in item.locator(".review-reason").inner_text()
    assert "24.00 USD net" in item.locator(".held-amount").inner_text()
    timeline = item.locator("table.timeline").inner_text()
    # The students were in the room (run_and_close puts them there, so they are not no-shows); the teacher never was.
    assert "Alice\tstudent" in timeline and "Bob\tstudent" in timeline
    assert "Charlie" not in timeline and "\tteacher\t" not in timeline
    item.locator("textarea[name=note]").fill("Teacher confirmed by phone that they missed the class")
    item.get_by_role("button", name="Confirm no-show").click()
    page.wait_for_selector(".messagelist .success")
    assert "awaiting → no_show" in page.locator(".messagelist").inner_text()
    assert "Nothing awaits review." in page.content()

    page.goto(f"{live_server.url}/admin/bookings/booking/?meeting__id__exact={no_show.pk}")
    statuses = page.locator("td.field-status").all_inner_texts()
    assert statuses == ["Refunded", "Refunded"], statuses

    assert set(Booking.objects.filter(meeting=no_show).values_list("status", flat=True)) == {"refunded"}
    assert Payout.objects.get(meeting=no_show).state == "cancelled"
    decision = StateChange.objects.get(meeting=no_show, field="review_state", to_state="no_show")
    assert decision.actor == staff and decision.reason == "Teacher confirmed by phone that they missed the class"
