"""Was the teacher there? The attendance verdict the close path pays on (or sends to review).

The teacher's time is the union of their sessions, so a rejoin adds its own stretch while two overlapping sessions
(a second device, a webhook and a poll of the same stretch under different keys) are counted once. Only class time
counts: the part of each session from ``start_time`` until the meeting closed (a session still open counts until
then). Time in the room before the start (the teacher may enter 10 minutes early) and after the room ended is shown
to the reviewer but never paid.

Evidence comes from the meeting's video provider first (its ``attendance()``: what the service itself saw) and from
our ``MeetingParticipant`` rows when the provider has nothing for the teacher, refuses for good (a permanent error,
e.g. no reports on a Zoom Basic account), or the meeting never had a room. A provider that cannot be reached (a
timeout, a 5xx) gives the verdict ``unknown``: that goes to review and is never paid automatically.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from integrations.http import ProviderError
from integrations.video import get_provider
from meetings.access import identity_of
from meetings.attendance import session_end
from meetings.models import Meeting, MeetingParticipant

logger = logging.getLogger("classroom.attendance")
Verdict = Meeting.Verdict
# Evidence sources stored in Meeting.attendance_source.
RECORDED = "recorded sessions"


@dataclass(frozen=True)
class Stretch:
    joined_at: dt.datetime
    left_at: dt.datetime | None
    source: str
    session_key: str = ""


@dataclass(frozen=True)
class AttendanceVerdict:
    verdict: str
    seconds: int | None
    source: str
    evidence: dict = field(default_factory=dict)
    # Why the meeting needs review ("" when it does not): "teacher not seen", "teacher 2 min only", ...
    review_reason: str = ""

    @property
    def present(self) -> bool:
        return self.verdict == Verdict.PRESENT


def attended_seconds(stretches, *, until: dt.datetime, since: dt.datetime | None = None) -> int:
    """Seconds covered by the union of ``stretches``, each cut to [``since``, ``until``] (an open one runs until
    ``until``)."""
    intervals = sorted(
        (max(s.joined_at, since) if since else s.joined_at, min(s.left_at or until, until))
        for s in stretches
        if s.joined_at < until
    )
    total = dt.timedelta()
    current_start = current_end = None
    for start, end in intervals:
        if end <= start:
            continue
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return int(total.total_seconds())


def _reported(meeting: Meeting):
    """What the provider reports for one meeting: its sessions, the ``ProviderError`` it raised, or None when it
    cannot report attendance at all."""
    try:
        return get_provider(meeting.room_provider).attendance(meeting)
    except NotImplementedError:
        return None
    except ProviderError as exc:
        return exc


def _reported_many(meetings) -> dict:
    """``_reported`` for many meetings: one ``attendance_many`` call per provider (one query for the local one)."""
    by_provider: dict[str, list[Meeting]] = {}
    for meeting in meetings:
        if meeting.room_provider:
            by_provider.setdefault(meeting.room_provider, []).append(meeting)
    reported = {}
    for name, group in by_provider.items():
        try:
            reported.update(get_provider(name).attendance_many(group))
        except NotImplementedError:
            reported.update(dict.fromkeys((m.pk for m in group), None))
        except Exception as exc:  # no such provider, or one whose batch call failed as a whole
            reported.update(dict.fromkeys((m.pk for m in group), exc))
    return reported


def _teacher_stretches(meeting: Meeting, sessions) -> list[Stretch]:
    teacher = identity_of(meeting.teacher)
    return [
        Stretch(s.joined_at, s.left_at, f"provider:{meeting.room_provider}", s.session_key)
        for s in sessions
        if s.identity == teacher
    ]


def _recorded_stretches(meeting: Meeting) -> list[Stretch]:
    return _recorded_stretches_many([meeting.pk]).get(meeting.pk, [])


def _recorded_stretches_many(meeting_ids) -> dict[int, list[Stretch]]:
    """Our recorded teacher sessions of many meetings, in one query; one whose heartbeat stopped ends at its last
    heartbeat plus the margin."""
    rows = (
        MeetingParticipant.objects.filter(meeting_id__in=meeting_ids, role=MeetingParticipant.Role.TEACHER)
        .order_by("joined_at", "id")
        .values_list("meeting_id", "joined_at", "left_at", "last_seen_at", "source", "session_key")
    )
    stretches: dict[int, list[Stretch]] = {}
    for meeting_id, joined_at, left_at, last_seen_at, source, session_key in rows:
        stretch = Stretch(joined_at, session_end(left_at, last_seen_at), source, session_key)
        stretches.setdefault(meeting_id, []).append(stretch)
    return stretches


def _describe(stretches: list[Stretch]) -> list[dict]:
    return [
        {
            "joined_at": s.joined_at.isoformat(),
            "left_at": s.left_at.isoformat() if s.left_at else None,
            "source": s.source,
            "session_key": s.session_key,
        }
        for s in sorted(stretches, key=lambda s: s.joined_at)
    ]


def short_attendance_reason(seconds: int, *, seen_early: bool = False) -> str:
    """``seen_early``: the teacher was in the room, but only before the class started."""
    if seconds <= 0:
        return "teacher seen only before the class started" if seen_early else "teacher not seen"
    if seconds < 60:
        return f"teacher {seconds} s only"
    return f"teacher {seconds // 60} min only"


def verify_attendance(meeting: Meeting, *, now: dt.datetime) -> AttendanceVerdict:
    """The verdict for a closed (or closing) meeting. Calls the video provider: run it outside any transaction."""
    reported = _reported(meeting) if meeting.room_provider else None
    return _judge(meeting, _recorded_stretches(meeting), reported, now=now)


def verify_attendance_many(meetings, *, now: dt.datetime) -> dict[int, AttendanceVerdict | Exception]:
    """``verify_attendance`` for a batch (``meetings`` with their teacher loaded): our recorded sessions in one
    query, the providers' evidence in one ``attendance_many`` call per provider. Outside any transaction unless
    every provider of the batch has ``evidence_is_local``. A meeting whose provider call raised something other
    than a ProviderError (where ``verify_attendance`` would raise) gets that exception instead of a verdict, so
    the caller fails that meeting alone."""
    recorded = _recorded_stretches_many([m.pk for m in meetings])
    reported = _reported_many(meetings)
    found = {}
    for meeting in meetings:
        answer = reported.get(meeting.pk)
        if isinstance(answer, Exception) and not isinstance(answer, ProviderError):
            found[meeting.pk] = answer
        else:
            found[meeting.pk] = _judge(meeting, recorded.get(meeting.pk, []), answer, now=now)
    return found


def _judge(meeting: Meeting, recorded: list[Stretch], reported, *, now: dt.datetime) -> AttendanceVerdict:
    """The verdict from our ``recorded`` stretches and what the provider ``reported`` (see ``_reported``)."""
    since, until = meeting.start_time, meeting.closed_at or now
    threshold = meeting.rules.teacher_min_attendance_seconds
    if meeting.closed_early:
        # Closed when the late-join grace ended because no student came: a teacher who was there all that time is
        # present even if the policy's minimum is longer than the grace.
        threshold = min(threshold, int((until - since).total_seconds()))
    evidence: dict = {
        "counted_from": since.isoformat(),
        "counted_until": until.isoformat(),
        "threshold_seconds": threshold,
        "policy": meeting.policy_id,
    }
    stretches, source = None, RECORDED
    if meeting.room_provider:
        if isinstance(reported, ProviderError):
            exc = reported
            logger.warning("attendance evidence unavailable", extra={"meeting_id": meeting.pk, "error": str(exc)})
            evidence.update(provider=meeting.room_provider, provider_error=str(exc)[:500])
            if not exc.permanent:
                # Unreachable (timeout, 5xx, 429): what we recorded ourselves is shown to the reviewer, but is not
                # enough to pay on while the service's own account is missing.
                evidence["recorded_sessions"] = _describe(recorded)
                evidence["recorded_seconds"] = attended_seconds(recorded, since=since, until=until)
                return AttendanceVerdict(
                    Verdict.UNKNOWN, None, "provider unreachable", evidence, "provider unreachable"
                )
            # The service answered that it will never give this report (a Zoom Basic host has no reports): asking
            # again cannot help, so the sessions it sent us by webhook are the evidence.
            evidence["provider_error_permanent"] = True
        elif reported is not None:
            stretches = _teacher_stretches(meeting, reported)
        if stretches:
            source = f"provider:{meeting.room_provider}"
        evidence["provider"] = meeting.room_provider
    if not stretches:
        stretches = recorded
    seconds = attended_seconds(stretches, since=since, until=until)
    evidence["sessions"] = _describe(stretches)
    if seconds >= threshold:
        return AttendanceVerdict(Verdict.PRESENT, seconds, source, evidence)
    seen_early = any(s.joined_at < since for s in stretches)
    reason = short_attendance_reason(seconds, seen_early=seen_early)
    return AttendanceVerdict(Verdict.ABSENT, seconds, source, evidence, reason)
