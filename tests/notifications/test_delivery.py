"""The delivery sweep beyond LINE itself: staff alerts written with real commits, and people nobody can reach."""

import logging

import pytest
from django.core import mail

from notifications import outbox
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests.notifications.line_helpers import enqueue, followers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_failed_for_good_alerts_staff_with_real_commits(line, line_channel, meeting, now, settings):
    """The sweep commits as it goes (no test transaction around it): the staff alert it writes must exist after."""
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    [alice] = followers(line_channel, 1)
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    line.fail_next_with("monthly")
    counts = deliver_notifications(now)
    assert counts == {"failed": 1, "sent": 1}  # the row, then its alert in the same pass
    alert = Notification.objects.get(kind="delivery_failed")
    assert alert.dedupe_key == f"delivery_failed:-:staff:ops@example.com:n{row.pk}" and alert.state == "sent"
    assert mail.outbox[0].to == ["ops@example.com"] and "monthly limit" in mail.outbox[0].body
    assert deliver_notifications(now) == {}
    assert Notification.objects.filter(kind="delivery_failed").count() == 1


def test_a_student_and_a_teacher_nobody_can_reach_are_skipped_not_sent(meeting, alice, teacher, now, settings, caplog):
    """Live, with neither LINE nor e-mail: the outbox says "skipped: no contact"; nothing counts as sent."""
    settings.NOTIFICATION_CHANNEL = "live"
    alice.email = teacher.email = ""
    alice.save()
    teacher.save()
    outbox.enqueue(
        [
            outbox.message("class_open", outbox.for_student(alice, "class_open")[0], now=now, meeting=meeting),
            outbox.message("class_closed", outbox.for_teacher(teacher), now=now, meeting=meeting),
        ]
    )
    caplog.set_level(logging.INFO, logger="classroom.notifications")
    assert deliver_notifications(now) == {}
    rows = Notification.objects.order_by("id")
    assert [(r.dedupe_key, r.state, r.last_error, r.address, r.sent_at) for r in rows] == [
        (f"class_open:{meeting.pk}:student:{alice.pk}", "skipped", "no contact", "", None),
        (f"class_closed:{meeting.pk}:teacher:{teacher.pk}", "skipped", "no contact", "", None),
    ]
    assert not [r for r in caplog.records if r.getMessage() == "message"]
    rows.filter(kind="class_open").update(state="pending", last_error="")  # put back by hand: skipped again
    assert deliver_notifications(now) == {"skipped": 1}
    assert rows.filter(state="skipped", last_error="no contact").count() == 2
    # Still one row per (meeting, recipient, kind): a second transition telling Alice again writes nothing new.
    outbox.enqueue([outbox.message("class_open", outbox.for_student(alice, "class_open")[0], now=now, meeting=meeting)])
    assert Notification.objects.count() == 2


def test_staff_alerts_without_staff_emails_go_to_the_log_as_configured(meeting, now, settings, caplog):
    """STAFF_ALERT_EMAILS empty: the log is where staff alerts are configured to go, so they are sent there."""
    settings.NOTIFICATION_CHANNEL = "live"
    settings.STAFF_ALERT_EMAILS = []
    [staff] = outbox.staff()
    outbox.enqueue([outbox.message("teacher_no_show", staff, now=now, meeting=meeting, context={"reason": "no-show"})])
    caplog.set_level(logging.INFO, logger="classroom.notifications")
    assert deliver_notifications(now) == {"sent": 1}
    assert Notification.objects.get().channel == "log"
    assert [r.kind for r in caplog.records if r.getMessage() == "message"] == ["teacher_no_show"]
