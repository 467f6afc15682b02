"""``core.audit.write``: a burst's history rows (COPY on PostgreSQL) read back exactly like ``bulk_create``'s."""

import pytest

from core.audit import COPY_HISTORY_FROM
from core.audit import entries as history_rows
from core.audit import write as insert_history
from core.models import StateChange
from meetings.models import Meeting
from tests.factories import MeetingFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("count", [3, COPY_HISTORY_FROM])
def test_rows_read_back_as_written(now, count):
    meeting = MeetingFactory()
    data = {"seconds": 3000, "source": "provider:zoom", "note": "naïve «quotes» \t tab\nnewline \\ backslash"}
    rows = history_rows(
        Meeting, [(meeting.pk, "open", meeting.pk)] * count, to_state="closed", at=now, reason="r\tn\\", data=data
    )
    insert_history(rows)
    stored = list(StateChange.objects.filter(meeting=meeting).order_by("id"))
    assert len(stored) == count
    first = stored[0]
    assert (first.object_id, first.from_state, first.to_state, first.at, first.reason, first.data) == (
        meeting.pk,
        "open",
        "closed",
        now,
        "r\tn\\",
        data,
    )
    assert (first.actor_id, first.actor_name, first.field, first.content_type.model) == (
        None,
        "system",
        "state",
        "meeting",
    )
