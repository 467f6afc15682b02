"""The delivery sweep beyond LINE itself: staff alerts written with real commits, and people nobody can reach."""

import pytest
from django.core import mail

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
