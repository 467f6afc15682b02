"""Attendance evidence: who was in the room, and when. Settlement, which judges it, is ``meetings.settlement``; what a
person's arrival causes is ``meetings.room_events``.

Sessions arrive from the provider (webhooks, polling, reports) or from the local room page. Recording is idempotent
on ``(meeting, source, session_key)``: a replayed event updates the same row, and a "left" that arrives before its
"joined" creates the session with both times.

Presence on the local room page is a heartbeat (``last_seen_at``): a session whose heartbeat stopped ended at its last
heartbeat plus ``LOCAL_PRESENCE_MARGIN_SECONDS``, whether or not anyone wrote ``left_at`` yet. Everything that asks
"who is in the room now?" uses ``present_at``, and everything that asks "when did it end?" uses ``session_end``.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Greatest

from meetings.models import Meeting, MeetingParticipant

logger = logging.getLogger("classroom.attendance")
Role = MeetingParticipant.Role


def presence_margin() -> dt.timedelta:
    return dt.timedelta(seconds=settings.LOCAL_PRESENCE_MARGIN_SECONDS)


def session_end(left_at: dt.datetime | None, last_seen_at: dt.datetime | None) -> dt.datetime | None:
    """When a session ended: ``left_at``; for an open heartbeat-tracked session, its last heartbeat plus the margin
    (it has ended by then unless another heartbeat comes); None: open, with no heartbeat to go by."""
    if left_at is not None:
        return left_at
    if last_seen_at is not None:
        return last_seen_at + presence_margin()
    return None


def present_at(now: dt.datetime, sessions: QuerySet | None = None) -> QuerySet:
    """The ``sessions`` (default: all) of people in the room at ``now``: not left, and, when heartbeat-tracked, seen
    within the margin. A teacher whose page went silent an hour ago is not in the room."""
    sessions = MeetingParticipant.objects.all() if sessions is None else sessions
    return sessions.filter(left_at__isnull=True).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__gt=now - presence_margin())
    )


def end_lapsed_sessions(sessions: QuerySet, *, now: dt.datetime) -> int:
    """Write ``left_at`` on the open ``sessions`` whose heartbeat stopped before ``now`` − margin: they ended at their
    last heartbeat plus the margin (``session_end``). Returns how many."""
    return sessions.filter(left_at__isnull=True, last_seen_at__lte=now - presence_margin()).update(
        left_at=F("last_seen_at") + presence_margin()
    )


def record_session(
    meeting: Meeting,
    *,
    source: str,
    session_key: str,
    identity: str,
    role: str,
    joined_at: dt.datetime,
    left_at: dt.datetime | None = None,
    display_name: str = "",
    teacher=None,
    student=None,
    last_seen_at: dt.datetime | None = None,
) -> tuple[MeetingParticipant, bool]:
    """Create or complete one session. Returns (session, created). A later ``left_at`` never moves back, an earlier
    ``joined_at`` wins (events out of order). ``last_seen_at``: only when creating (heartbeats: ``heartbeat``)."""
    defaults = {
        "identity": identity,
        "role": role,
        "joined_at": joined_at,
        "left_at": left_at,
        "display_name": display_name,
        "teacher": teacher,
        "student": student,
        "last_seen_at": last_seen_at,
    }
    try:
        with transaction.atomic():
            session, created = MeetingParticipant.objects.select_for_update().get_or_create(
                meeting=meeting, source=source, session_key=session_key, defaults=defaults
            )
    except IntegrityError:  # a twin event created it between our SELECT and INSERT
        session, created = (
            MeetingParticipant.objects.get(meeting=meeting, source=source, session_key=session_key),
            False,
        )
    if not created:
        changes = {}
        if joined_at < session.joined_at:
            changes["joined_at"] = joined_at
        if left_at is not None and (session.left_at is None or left_at > session.left_at):
            changes["left_at"] = max(left_at, changes.get("joined_at", session.joined_at))
        if changes:
            MeetingParticipant.objects.filter(pk=session.pk).update(**changes)
            for key, value in changes.items():
                setattr(session, key, value)
    return session, created


def end_open_sessions(meeting: Meeting, *, now: dt.datetime, source: str) -> int:
    """The room was ended for everyone: sessions still open end now (or at their own start, if another service's
    clock put that a little after ours: a session never ends before it starts), except those whose heartbeat had
    stopped: they ended at their last heartbeat plus the margin."""
    sessions = MeetingParticipant.objects.filter(meeting=meeting, source=source)
    lapsed = end_lapsed_sessions(sessions, now=now)
    return lapsed + sessions.filter(left_at__isnull=True).update(left_at=Greatest(F("joined_at"), Value(now)))


# --- heartbeat-tracked presence (the local room page) -----------------------------------------------------------------


def heartbeat(meeting: Meeting, *, source: str, identity: str, now: dt.datetime) -> MeetingParticipant | None:
    """``identity`` is in the room at ``now``: its present session is seen now. Sessions of theirs whose heartbeat
    had stopped are ended first (at their last heartbeat plus the margin), so a heartbeat after a gap never stretches
    an old session over the gap. Returns the present session, or None when there is none (the caller may start
    one: ``start_presence``)."""
    sessions = MeetingParticipant.objects.filter(meeting=meeting, source=source, identity=identity)
    end_lapsed_sessions(sessions, now=now)
    present = present_at(now, sessions)
    # Never moves back: a heartbeat delayed in transit must not shorten what a later one recorded.
    present.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now)).update(last_seen_at=now)
    return present.order_by("-joined_at", "-id").first()


def start_presence(
    meeting: Meeting, *, source: str, identity: str, role: str, now: dt.datetime, display_name: str = "", **person
) -> MeetingParticipant:
    """A new heartbeat-tracked session of ``identity`` from ``now``. Its key names the session before it, so two
    requests racing to start one (two tabs opened together) make one row: the unique ``(meeting, source,
    session_key)`` lets one insert and gives the other the same session."""
    previous = (
        MeetingParticipant.objects.filter(meeting=meeting, source=source, identity=identity)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    session, created = record_session(
        meeting,
        source=source,
        session_key=f"{identity}#after-{previous or 0}",
        identity=identity,
        role=role,
        joined_at=now,
        display_name=display_name,
        last_seen_at=now,
        **person,
    )
    if not created:
        heartbeat(meeting, source=source, identity=identity, now=now)
    return session


def end_presence(meeting: Meeting, *, source: str, identity: str, now: dt.datetime) -> int:
    """``identity`` left the room at ``now`` (the Leave button, or the page being closed): their present session
    ends now; one whose heartbeat had already stopped keeps its end at the last heartbeat plus the margin."""
    sessions = MeetingParticipant.objects.filter(meeting=meeting, source=source, identity=identity)
    lapsed = end_lapsed_sessions(sessions, now=now)
    return lapsed + present_at(now, sessions).update(left_at=Greatest(F("joined_at"), Value(now)))


# --- sessions reported by a video provider (webhooks, polls, reports) -------------------------------------------------
