"""The one audit helper (core.audit): who, what, from, to, why and data, secrets masked; and the admin decisions
outside the state machines (retry now, clearing a LINE or Zoom account's marks) leave an entry like every
transition."""

import pytest
from django.db import transaction
from django.utils import timezone

from core import audit
from core.models import StateChange
from integrations.line.models import LineChannel, clear_auth_flags
from integrations.zoom import pool
from integrations.zoom.models import ZoomAccount
from meetings.models import Meeting
from notifications import outbox
from notifications.delivery import retry_now
from notifications.models import Notification
from tests.factories import LineChannelFactory, ZoomAccountFactory

pytestmark = pytest.mark.django_db


def test_an_entry_says_who_what_from_to_why_and_masks_secrets(meeting, staff, now):
    audit.record(
        Meeting,
        [(meeting.pk, "scheduled", meeting.pk)],
        to_state="open",
        at=now,
        actor=staff,
        reason="teacher asked",
        data={"lateness_seconds": 3, "access_token": "abc", "nested": {"client_secret": "x", "count": 2}},
    )
    stored = StateChange.objects.get(object_id=meeting.pk, to_state="open")
    assert (stored.object_id, stored.meeting_id, stored.field, stored.from_state, stored.to_state) == (
        meeting.pk,
        meeting.pk,
        "state",
        "scheduled",
        "open",
    )
    assert (stored.actor, stored.actor_name, stored.reason, stored.at) == (staff, "sam", "teacher asked", now)
    assert stored.data == {
        "lateness_seconds": 3,
        "access_token": audit.MASK,
        "nested": {"client_secret": audit.MASK, "count": 2},
    }


def test_the_log_line_masks_secrets_too(caplog, meeting):
    with caplog.at_level("INFO", logger="classroom.transitions"):
        audit.log(Meeting, meeting.pk, "a", "b", reason="x", token="secret-value")
    assert "secret-value" not in caplog.text and caplog.records[-1].token == audit.MASK


def history(model, pk):
    return list(
        StateChange.objects.filter(content_type__model=model._meta.model_name, object_id=pk).values_list(
            "field", "from_state", "to_state", "actor_name", "reason"
        )
    )


def test_retry_now_leaves_an_entry_per_message(meeting, alice, staff, now):
    with transaction.atomic():
        outbox.enqueue(
            [outbox.message("class_open", outbox.for_student(alice, "class_open")[0], now=now, meeting=meeting)]
        )
    Notification.objects.update(state="failed", attempts=8, failed_at=now)
    row = Notification.objects.get()
    assert retry_now([row.pk], now, actor=staff) == 1
    assert history(Notification, row.pk) == [("state", "failed", "pending", "sam", "retry now")]
    assert StateChange.objects.get(object_id=row.pk, content_type__model="notification").meeting_id == meeting.pk
    assert retry_now([row.pk], now, actor=staff) == 0  # pending now: nothing to retry, nothing written
    assert len(history(Notification, row.pk)) == 1


def test_clearing_a_line_channels_flag_leaves_an_entry(staff):
    flagged, fine = LineChannelFactory(), LineChannelFactory()
    LineChannel.objects.filter(pk=flagged.pk).update(auth_failed_at=timezone.now())
    assert clear_auth_flags(LineChannel.objects.all(), now=timezone.now(), actor=staff) == 1
    assert history(LineChannel, flagged.pk) == [
        ("auth_failed_at", "token refused", "cleared", "sam", "the token was fixed")
    ]
    assert history(LineChannel, fine.pk) == []


def test_clearing_zoom_marks_leaves_an_entry(staff):
    account = ZoomAccountFactory()
    ZoomAccount.objects.filter(pk=account.pk).update(auth_failed_at=timezone.now(), last_error="401")
    assert pool.clear_marks(ZoomAccount.objects.all(), now=timezone.now(), actor=staff) == 1
    assert history(ZoomAccount, account.pk) == [
        ("marks", "set aside", "in the pool", "sam", "marks cleared in the admin")
    ]
