"""A class run by the sweeps with its students on LINE: the fake receives each link once, as text plus imagemap."""

import datetime as dt
from collections import Counter

from bookings.models import Appointment
from core.runner import run_sweeps
from notifications.models import Notification
from tests.factories import book
from tests.notifications.line_helpers import followers


def test_a_class_on_line_sends_each_link_once_even_when_line_stumbles(line, line_channel, meeting, now):
    students = followers(line_channel, 3)
    for student in students:
        book(student, meeting, now=now)
    start, end = meeting.start_time, meeting.end_time
    line.fail_next_with("timeout_after_accept")  # the first join link is accepted but answered too late
    moments = [start - dt.timedelta(minutes=60), start - dt.timedelta(minutes=10), start]
    moments += [end - dt.timedelta(minutes=10), end + dt.timedelta(minutes=5), end + dt.timedelta(hours=2)]
    for moment in moments + moments[-1:]:
        run_sweeps(moment, record=False)
    assert set(Appointment.objects.values_list("join_link_state", "feedback_link_state")) == {("sent", "sent")}
    assert set(Notification.objects.filter(student__in=students).values_list("state", flat=True)) == {"sent"}
    per_student = Counter()
    for call in line.accepted:
        kinds = [m["baseUrl"].rsplit("/", 1)[1] for m in call.messages if m["type"] == "imagemap"]
        for user in call.to:
            per_student[(user, kinds[0] if kinds else call.messages[0]["text"][:20])] += 1
    for student in students:
        assert per_student[(student.line_user_id, "join_link")] == 1
        assert per_student[(student.line_user_id, "feedback_link")] == 1
    assert set(per_student.values()) == {1}
    assert len(line.requests) == len(line.accepted) + 1  # the late-answered link was settled by a 409
    assert any(len(call.to) == 3 for call in line.accepted)  # "class is open": one multicast to all three
