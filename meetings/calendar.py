"""Calendar feeds: ``/calendar/<token>.ics`` per teacher and per student, built with the ``icalendar`` library.

Each class is one VEVENT with a stable UID (the meeting's id, which an occurrence keeps through every edit of its
series, a split included) and a SEQUENCE that grows on every change (``Meeting.sequence``), so a calendar that saw it
before updates it in place. Occurrences are published as single events, not as an RRULE with exceptions: each one's
times are already the right instants (clock changes, shifted wall times, moved occurrences), and no calendar has to
expand our rule again (where the tools this replaces went wrong). A cancelled class stays in the feed as
STATUS:CANCELLED (a calendar drops it from view; removing it would leave it there). The feed never carries a join
link (calendars keep feeds for ever and share them): only a link to the class. Calendars refresh feeds hours late
whatever we ask; REFRESH-INTERVAL (RFC 7986) and X-PUBLISHED-TTL ask for CALENDAR_REFRESH_MINUTES.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import icalendar
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext

from bookings.models import Booking
from core import audit
from core.timezones import UTC
from meetings.models import CalendarFeed, Meeting

# Classes that ended longer ago than this are left out: a feed is for what is coming.
FEED_PAST_DAYS = 30
FEED_PRODID = "-//Classroom back office//Weekly classes//EN"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/calendar/{token}.ics"


def regenerate(*, now: dt.datetime, teacher=None, student=None, actor=None) -> tuple[CalendarFeed, str]:
    """A new secret feed URL for one person; the previous one stops working at once. The token is returned this once
    (only its digest is kept)."""
    owner = {"teacher": teacher} if teacher is not None else {"student": student}
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        revoked = list(CalendarFeed.objects.filter(revoked_at__isnull=True, **owner).values_list("pk", flat=True))
        CalendarFeed.objects.filter(pk__in=revoked).update(revoked_at=now)
        feed = CalendarFeed.objects.create(digest=digest(token), created_at=now, **owner)
        audit.record(
            CalendarFeed,
            [(feed.pk, "", None)],
            to_state="active",
            at=now,
            actor=actor,
            reason="calendar feed regenerated",
            data={"revoked_feeds": revoked},
        )
    return feed, token


def revoke(feed: CalendarFeed, *, now: dt.datetime, actor=None) -> bool:
    with transaction.atomic():
        changed = CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(revoked_at=now)
        if changed:
            audit.record(
                CalendarFeed, [(feed.pk, "active", None)], to_state="revoked", at=now, actor=actor, reason="revoked"
            )
    return bool(changed)


def find(token: str) -> CalendarFeed | None:
    return (
        CalendarFeed.objects.select_related("teacher", "student")
        .filter(digest=digest(token), revoked_at__isnull=True)
        .first()
    )


def _meetings(feed: CalendarFeed, now: dt.datetime):
    recent = Q(end_time__gte=now - dt.timedelta(days=FEED_PAST_DAYS))
    meetings = Meeting.objects.select_related("series", "course", "teacher").filter(recent)
    if feed.teacher_id:
        return meetings.filter(teacher_id=feed.teacher_id)
    # A student's classes: every seat they hold or held (a cancelled booking's class shows as cancelled for them).
    booked = Booking.objects.filter(student_id=feed.student_id).values("meeting_id")
    return meetings.filter(pk__in=booked)


def _cancelled_for(feed: CalendarFeed) -> set[int]:
    if not feed.student_id:
        return set()
    holding = set(
        Booking.objects.filter(student_id=feed.student_id, status__in=Booking.SEAT_HOLDING).values_list(
            "meeting_id", flat=True
        )
    )
    return set(Booking.objects.filter(student_id=feed.student_id).values_list("meeting_id", flat=True)) - holding


def class_url(meeting: Meeting) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/meetings/{meeting.pk}/"


def uid(meeting: Meeting) -> str:
    host = settings.PUBLIC_BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return f"meeting-{meeting.pk}@{host}"


def build(feed: CalendarFeed, *, now: dt.datetime) -> bytes:
    """The feed in its owner's language (a calendar app sends no useful Accept-Language)."""
    person = feed.teacher or feed.student
    with translation.override(person.language):
        return _build(feed, person, now=now)


def _build(feed: CalendarFeed, person, *, now: dt.datetime) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", FEED_PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", gettext("Classes of %(name)s") % {"name": person.display_name})
    calendar.add("x-wr-timezone", person.time_zone)
    refresh = dt.timedelta(minutes=settings.CALENDAR_REFRESH_MINUTES)
    calendar.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", refresh)
    seat_gone = _cancelled_for(feed)
    for meeting in _meetings(feed, now).order_by("start_time", "pk"):
        event = icalendar.Event()
        event.add("uid", uid(meeting))
        event.add("dtstamp", now.astimezone(UTC))
        event.add("last-modified", meeting.updated_at.astimezone(UTC))
        event.add("sequence", meeting.sequence)
        event.add("summary", meeting.title)
        event.add("dtstart", meeting.start_time.astimezone(UTC))
        event.add("dtend", meeting.end_time.astimezone(UTC))
        event.add("url", class_url(meeting))
        description = [
            gettext("%(course)s with %(teacher)s.")
            % {"course": meeting.course.title, "teacher": meeting.teacher.display_name},
            class_url(meeting),
        ]
        if meeting.series_note:
            description.insert(1, meeting.series_note)
        event.add("description", "\n".join(description))
        cancelled = meeting.state == Meeting.State.CANCELLED or meeting.pk in seat_gone
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        calendar.add_component(event)
    return calendar.to_ical()
