"""The two baselines every burst is measured against, in the same run:

* naive — the loop a first version usually is: for each due meeting load it, load its bookings, save it, write a
  history row, and one notification per person, each its own query;
* floor — hand-written SQL doing the same work in the fewest statements (one UPDATE ... RETURNING, one multi-row
  INSERT of history, one of outbox rows): as close to the database's limit as we can write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from meetings.models import Meeting, StateChange
from notifications.models import Notification


def naive_open(now: dt.datetime) -> int:
    opened = 0
    for meeting in list(Meeting.objects.filter(state="scheduled", start_time__lte=now)):
        with transaction.atomic():
            bookings = list(meeting.bookings.filter(status="confirmed"))
            meeting.state, meeting.opened_at, meeting.auto_opened = "open", now, True
            meeting._loaded_state = "open"  # a first version has no state guard
            meeting.save()
            StateChange.objects.create(
                content_type=ContentType.objects.get_for_model(Meeting),
                object_id=meeting.pk,
                meeting=meeting,
                from_state="scheduled",
                to_state="open",
                at=now,
                actor_name="system",
                reason="start time reached",
            )
            people = [("teacher", meeting.teacher)] + [("student", booking.student) for booking in bookings]
            for role, person in people:
                payload = {"text": f"Your class '{meeting.title}' is open now."}
                Notification.objects.create(
                    dedupe_key=f"class_open:{meeting.pk}:{role}:{person.pk}",
                    kind="class_open",
                    channel="log",
                    meeting=meeting,
                    address=person.email,
                    payload=payload,
                    next_attempt_at=now,
                    created_at=now,
                    payload_hash=hashlib.sha256(json.dumps(payload).encode()).hexdigest(),
                    **{role: person},
                )
            opened += 1
    return opened


FLOOR_OPEN = """
UPDATE meetings_meeting SET state = 'open', opened_at = %(now)s, auto_opened = true, updated_at = %(now)s
WHERE state = 'scheduled' AND start_time <= %(now)s
RETURNING id
"""

FLOOR_HISTORY = """
INSERT INTO meetings_statechange
    (content_type_id, object_id, meeting_id, field, from_state, to_state, at, actor_name, reason, data)
SELECT %(ct)s, id, id, 'state', 'scheduled', 'open', %(now)s, 'system', 'start time reached', '{}'::jsonb
FROM unnest(%(ids)s::bigint[]) AS id
"""

FLOOR_OUTBOX = """
INSERT INTO notifications_notification
    (dedupe_key, kind, channel, state, meeting_id, student_id, teacher_id, address, payload, payload_hash,
     attempts, next_attempt_at, last_error, provider_message_id, retry_key, created_at)
SELECT p.key, 'class_open', 'log', 'pending', p.meeting_id, p.student_id, p.teacher_id, p.email,
       jsonb_build_object('text', 'Your class ''' || p.title || ''' is open now.'),
       md5(p.title), 0, %(now)s, '', '', gen_random_uuid(), %(now)s
FROM (
    SELECT 'class_open:' || m.id || ':student:' || s.id AS key, m.id AS meeting_id, s.id AS student_id,
           NULL::bigint AS teacher_id, s.email, m.title
    FROM meetings_meeting m JOIN bookings_booking b ON b.meeting_id = m.id AND b.status = 'confirmed'
    JOIN classroom_student s ON s.id = b.student_id
    WHERE m.id = ANY(%(ids)s)
    UNION ALL
    SELECT 'class_open:' || m.id || ':teacher:' || t.id, m.id, NULL, t.id, t.email, m.title
    FROM meetings_meeting m JOIN classroom_teacher t ON t.id = m.teacher_id
    WHERE m.id = ANY(%(ids)s)
) AS p
ON CONFLICT (dedupe_key) DO NOTHING
"""


def floor_open(now: dt.datetime) -> int:
    ct = ContentType.objects.get_for_model(Meeting).pk
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FLOOR_OPEN, {"now": now})
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(FLOOR_HISTORY, {"ct": ct, "now": now, "ids": ids})
        cursor.execute(FLOOR_OUTBOX, {"now": now, "ids": ids})
    return len(ids)
