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
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from bookings.models import Booking, Payout
from classroom import policies
from core.models import StateChange
from meetings.models import Meeting
from notifications.models import Notification


def _history(model, pk, meeting, from_state, to_state, now, reason, field="state"):
    StateChange.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_id=pk,
        meeting=meeting,
        field=field,
        from_state=from_state,
        to_state=to_state,
        at=now,
        actor_name="system",
        reason=reason,
    )


def _notify(meeting, kind, role, person, now, text):
    payload = {"text": text}
    Notification.objects.create(
        dedupe_key=f"{kind}:{meeting.pk}:{role}:{person.pk}",
        kind=kind,
        channel="log",
        meeting=meeting,
        address=person.email,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
        payload_hash=hashlib.sha256(json.dumps(payload).encode()).hexdigest(),
        **{role: person},
    )


def naive_open(now: dt.datetime) -> int:
    opened = 0
    for meeting in list(Meeting.objects.filter(state="scheduled", start_time__lte=now)):
        with transaction.atomic():
            bookings = list(meeting.bookings.filter(status="confirmed"))
            meeting.state, meeting.opened_at, meeting.auto_opened = "open", now, True
            meeting._loaded_state = "open"  # a first version has no state guard
            meeting.save()
            _history(Meeting, meeting.pk, meeting, "scheduled", "open", now, "start time reached")
            people = [("teacher", meeting.teacher)] + [("student", booking.student) for booking in bookings]
            for role, person in people:
                _notify(meeting, "class_open", role, person, now, f"Your class '{meeting.title}' is open now.")
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


# --- B3: the close burst (close, complete bookings, verdict, payout) --------------------------------------------------


def _close_moment(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(minutes=policies.current(now).meeting_auto_close_delay_minutes)


def naive_close(now: dt.datetime) -> int:
    """For each due meeting: load it, close it, complete each booking, sum the teacher's sessions, create the
    payout, each its own query."""
    closed = 0
    due = Meeting.objects.filter(state__in=["open", "in_progress"], end_time__lte=_close_moment(now))
    for meeting in list(due.select_related("teacher")):
        with transaction.atomic():
            from_state = meeting.state
            meeting.state, meeting.closed_at, meeting.auto_closed = "closed", now, True
            meeting._loaded_state = "closed"
            meeting.save()
            _history(Meeting, meeting.pk, meeting, from_state, "closed", now, "close moment reached")
            gross = Decimal("0")
            for booking in list(meeting.bookings.filter(status="confirmed")):
                booking.status, booking.completed_at, booking._loaded_state = "completed", now, "completed"
                booking.save()
                _history(Booking, booking.pk, meeting, "confirmed", "completed", now, "class closed", field="status")
                gross += booking.amount
            _notify(meeting, "class_closed", "teacher", meeting.teacher, now, f"Your class '{meeting.title}' closed.")
            seconds = sum(
                ((s.left_at or now) - s.joined_at).total_seconds() for s in meeting.participants.filter(role="teacher")
            )
            present = seconds >= policies.current(now).teacher_min_attendance_seconds
            meeting.attendance_verdict = "present" if present else "absent"
            meeting.teacher_attended_seconds, meeting.settled_at = int(seconds), now
            meeting.save()
            if present and gross:
                rate = policies.current(now).commission_rate
                commission = (gross * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
                Payout.objects.create(
                    teacher=meeting.teacher,
                    meeting=meeting,
                    currency="USD",
                    gross=gross,
                    commission_rate=rate,
                    commission=commission,
                    net=gross - commission,
                    approve_after=now + dt.timedelta(hours=policies.current(now).payout_dispute_hours),
                )
            closed += 1
    return closed


FLOOR_CLOSE = """
WITH due AS (
    SELECT id, state FROM meetings_meeting
    WHERE state IN ('open', 'in_progress') AND end_time <= %(moment)s
    FOR NO KEY UPDATE
)
UPDATE meetings_meeting m SET state = 'closed', closed_at = %(now)s, auto_closed = true, updated_at = %(now)s
FROM due WHERE m.id = due.id
RETURNING m.id, due.state
"""

FLOOR_COMPLETE = """
UPDATE bookings_booking SET status = 'completed', completed_at = %(now)s
WHERE meeting_id = ANY(%(ids)s) AND status = 'confirmed'
RETURNING id, meeting_id
"""

FLOOR_CLOSE_HISTORY = """
INSERT INTO meetings_statechange
    (content_type_id, object_id, meeting_id, field, from_state, to_state, at, actor_name, reason, data)
SELECT %(meeting_ct)s, id, id, 'state', from_state, 'closed', %(now)s, 'system', 'close moment reached', '{}'::jsonb
FROM unnest(%(ids)s::bigint[], %(from_states)s::text[]) AS t(id, from_state)
UNION ALL
SELECT %(booking_ct)s, id, meeting_id, 'status', 'confirmed', 'completed', %(now)s, 'system', 'class closed',
       '{}'::jsonb
FROM unnest(%(booking_ids)s::bigint[], %(booking_meetings)s::bigint[]) AS b(id, meeting_id)
"""

FLOOR_CLOSE_OUTBOX = """
INSERT INTO notifications_notification
    (dedupe_key, kind, channel, state, meeting_id, teacher_id, address, payload, payload_hash,
     attempts, next_attempt_at, last_error, provider_message_id, retry_key, created_at)
SELECT 'class_closed:' || m.id || ':teacher:' || t.id, 'class_closed', 'log', 'pending', m.id, t.id, t.email,
       jsonb_build_object('text', 'Your class ''' || m.title || ''' closed.'), md5(m.title), 0, %(now)s, '', '',
       gen_random_uuid(), %(now)s
FROM meetings_meeting m JOIN classroom_teacher t ON t.id = m.teacher_id
WHERE m.id = ANY(%(ids)s)
ON CONFLICT (dedupe_key) DO NOTHING
"""

FLOOR_VERDICT = """
UPDATE meetings_meeting m
SET attendance_verdict = CASE WHEN COALESCE(a.seconds, 0) >= %(min_seconds)s THEN 'present' ELSE 'absent' END,
    teacher_attended_seconds = COALESCE(a.seconds, 0), settled_at = %(now)s
FROM unnest(%(ids)s::bigint[]) AS due(id)
LEFT JOIN (
    SELECT meeting_id, EXTRACT(EPOCH FROM SUM(COALESCE(left_at, %(now)s) - joined_at))::int AS seconds
    FROM meetings_meetingparticipant WHERE role = 'teacher' AND meeting_id = ANY(%(ids)s) GROUP BY meeting_id
) a ON a.meeting_id = due.id
WHERE m.id = due.id
"""

FLOOR_PAYOUTS = """
INSERT INTO bookings_payout
    (teacher_id, meeting_id, currency, gross, commission_rate, commission, net, state, approve_after, held_reason,
     review_note, created_at)
SELECT m.teacher_id, m.id, 'USD', g.gross, %(rate)s, ROUND(g.gross * %(rate)s, 2),
       g.gross - ROUND(g.gross * %(rate)s, 2), 'pending', %(approve_after)s, '', '', %(now)s
FROM meetings_meeting m
JOIN (SELECT meeting_id, SUM(amount) AS gross FROM bookings_booking
      WHERE meeting_id = ANY(%(ids)s) AND status = 'completed' GROUP BY meeting_id) g ON g.meeting_id = m.id
WHERE m.id = ANY(%(ids)s) AND m.attendance_verdict = 'present'
ON CONFLICT (meeting_id) DO NOTHING
"""


def floor_close(now: dt.datetime) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FLOOR_CLOSE, {"now": now, "moment": _close_moment(now)})
        closed = cursor.fetchall()
        ids = [row[0] for row in closed]
        cursor.execute(FLOOR_COMPLETE, {"now": now, "ids": ids})
        completed = cursor.fetchall()
        cursor.execute(
            FLOOR_CLOSE_HISTORY,
            {
                "now": now,
                "meeting_ct": ContentType.objects.get_for_model(Meeting).pk,
                "booking_ct": ContentType.objects.get_for_model(Booking).pk,
                "ids": ids,
                "from_states": [row[1] for row in closed],
                "booking_ids": [row[0] for row in completed],
                "booking_meetings": [row[1] for row in completed],
            },
        )
        cursor.execute(FLOOR_CLOSE_OUTBOX, {"now": now, "ids": ids})
        cursor.execute(
            FLOOR_VERDICT, {"now": now, "ids": ids, "min_seconds": policies.current(now).teacher_min_attendance_seconds}
        )
        cursor.execute(
            FLOOR_PAYOUTS,
            {
                "now": now,
                "ids": ids,
                "rate": policies.current(now).commission_rate,
                "approve_after": now + dt.timedelta(hours=policies.current(now).payout_dispute_hours),
            },
        )
    return len(ids)
