"""Staff see the admin's daily-work pages in their language, from the catalogue (issue 21 item 9): the review
queue, the lifecycle page, the admin's home and the meeting list, in Vietnamese.

The request carries ``Accept-Language: vi`` (what LocaleMiddleware reads) and runs under
``translation.override("vi")`` (what a page renders in without the middleware), so the test holds either way."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from meetings import sweeps
from meetings.models import Meeting
from meetings.settlement import settle
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def get_in_vietnamese(client, url: str) -> str:
    with translation.override("vi"):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def a_no_show(now) -> Meeting:
    meeting = MeetingFactory(
        teacher=TeacherFactory(display_name="Charlie", time_zone="Asia/Ho_Chi_Minh"),
        course=CourseFactory(price=Decimal("15.00")),
        title="Tiếng Anh giao tiếp",
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    book(StudentFactory(display_name="Alice"), meeting, now=now)
    meeting = run_and_close(meeting, (0 * MINUTE, 2 * MINUTE))
    settle(meeting, now=meeting.closed_at)
    return Meeting.objects.get(pk=meeting.pk)


def test_the_review_queue_in_vietnamese(staff_client, now):
    meeting = a_no_show(now)
    assert meeting.review_state == Meeting.ReviewState.AWAITING
    page = get_in_vietnamese(staff_client, reverse("admin:meetings_review_queue"))
    for vietnamese in (
        "Hàng đợi xét duyệt: các buổi học không thấy giáo viên",  # the title
        "1 buổi học đang chờ quyết định",  # the count, a plural form
        "Dòng thời gian điểm danh",
        "Ghi chú (bắt buộc)",
        "Giải ngân (giáo viên đã có mặt)",  # a decision button, from the view
        "Xác nhận vắng mặt",
        "số tiền tạm giữ",
    ):
        assert vietnamese in page, vietnamese
    for english in ("awaiting a decision", "Attendance timeline", "Note (required)", "Confirm no-show"):
        assert english not in page, english
    # Stored values are shown in words: the booking's status, the role of each session in the timeline.
    assert re.findall(r'<td class="booking-status">(.*?)</td>', page) == ["đã hoàn thành"]
    assert "<td>giáo viên</td>" in page
    # The data stays as typed: the class's title, the teacher's name.
    assert "Tiếng Anh giao tiếp" in page and "Charlie" in page


def test_the_empty_review_queue_in_vietnamese(staff_client):
    page = get_in_vietnamese(staff_client, reverse("admin:meetings_review_queue"))
    assert "Không có gì đang chờ xét duyệt." in page and "Nothing awaits review." not in page


def test_the_lifecycle_page_in_vietnamese(staff_client, meeting, alice, now):
    book(alice, meeting, now=now)
    sweeps.open_due_meetings(meeting.start_time + dt.timedelta(seconds=3))
    with time_machine.travel(meeting.start_time + MINUTE, tick=False):
        page = get_in_vietnamese(staff_client, reverse("admin:meetings_lifecycle"))
    for vietnamese in (
        "Vòng đời: những gì đã xảy ra và việc sắp chạy tiếp theo",  # the title
        "Số buổi học được mở và đóng mỗi ngày (UTC)",  # a chart, drawn by the view
        "Việc sắp chạy tiếp theo",
        "7 ngày qua",
        "độ trễ khi mở, trung bình (giây)",
        "Tiến trình chạy",
        "đóng",  # what fires next for the open class: its close, from meetings.stats
    ):
        assert vietnamese in page, vietnamese
    for english in ("What fires next", "Last 7 days", "open lateness, mean (s)", "Classes opened and closed"):
        assert english not in page, english


def test_the_admin_home_and_the_meeting_list_in_vietnamese(staff_client, meeting):
    home = get_in_vietnamese(staff_client, reverse("admin:index"))
    assert "Công việc hằng ngày" in home and "Hàng đợi xét duyệt" in home and "Daily work" not in home
    listing = get_in_vietnamese(staff_client, reverse("admin:meetings_meeting_changelist"))
    # Column headers, the state of a class, the actions: ours and the model's, from the catalogue.
    for vietnamese in (
        "Tiêu đề",
        "Bắt đầu",
        "Chọn buổi học để thay đổi",
        "Đã lên lịch",
        "Mở ngay",
        "Hủy (hoàn tiền mọi lượt đặt chỗ)…",
    ):
        assert vietnamese in listing, vietnamese
    assert "Open now" not in listing and ">Scheduled<" not in listing
