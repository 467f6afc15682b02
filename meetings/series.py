"""Weekly classes: a series is a wall-clock start, a duration, an IANA zone and an RFC 5545 RRULE; its occurrences
are ordinary meetings (``schedule_meeting``), made for a rolling horizon by the ``materialise_series`` sweep.

Why it never drifts: the rule is expanded by dateutil on **naive wall-clock times** (19:30, 19:30, 19:30...) and only
then each one is read in the series' zone with zoneinfo. Expanding in UTC (or with an aware DTSTART) would keep the
UTC instant fixed and move the class by an hour at every clock change.

The two wall times a clock change makes awkward, one rule each, everywhere (sweep, preview, edits of the series):
  * a time that does not exist (02:30 on a spring-forward night) is **shifted forward by the gap** (03:30 in New
    York): zoneinfo reads it with the offset from before the change (``fold=0``), which lands exactly one gap later.
    The class still lasts ``duration_minutes``; the occurrence carries a note saying so and the teacher is told.
  * a time that happens twice (01:30 on a fall-back night) is the **first** one (``fold=0``, still summer time),
    with a note too.

Occurrences are unique on (series, original local start) (the RRULE's RECURRENCE-ID): a second worker or a rerun
makes nothing twice, and a moved occurrence keeps its key, so the sweep never makes it again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import zoneinfo
from collections import Counter

from dateutil.rrule import rrulestr
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bookings import transitions as booking_transitions
from bookings.errors import AlreadyBooked, BookingClosed, CancellationTooLate, ClassFull, OwnClass
from bookings.models import Booking
from core import audit
from core.errors import DomainError, IllegalTransition, InvalidTime
from core.timezones import UTC, local_to_utc, readings, validate_time_zone, zone
from meetings import lifecycle
from meetings.models import Meeting, Series, SeriesSubscription
from notifications import outbox

logger = logging.getLogger("classroom.series")
State = Meeting.State
Kind = outbox.Notification.Kind
KEY_FORMAT = "%Y-%m-%dT%H:%M"
# How far ahead a new rule is checked for two occurrences a day or overlaps: a year shows every weekly pattern.
CHECK_DAYS, CHECK_MAX = 400, 1000
# The message about a new local time goes out in the week before the first class at that time.
TIME_CHANGE_NOTICE = dt.timedelta(days=7)


class InvalidSeries(InvalidTime, code="invalid_series"):
    """A series a person gave us cannot be used (400 naming the field)."""


class AlreadySubscribed(DomainError, code="already_subscribed"):
    """The student already follows this series."""


@dataclasses.dataclass(frozen=True)
class Occurrence:
    key: str  # the wall-clock start the rule gave, in the series' zone: "2027-03-14T02:30"
    wall: dt.datetime  # naive
    start: dt.datetime  # UTC
    end: dt.datetime  # UTC
    note: str


# --- reading what people give ----------------------------------------------------------------------------------------


def parse_local_start(value, *, field: str = "local_start") -> dt.datetime:
    """A wall-clock start without an offset ("2027-03-01T02:30"): the zone is the series' own."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidSeries(
                _("%(field)s must be a wall-clock time like 2027-03-01T19:30") % {"field": field}, field=field
            ) from None
    if parsed.tzinfo is not None:
        raise InvalidSeries(
            _("%(field)s must be a wall-clock time without an offset (the zone is time_zone), e.g. 2027-03-01T19:30")
            % {"field": field},
            field=field,
        )
    return parsed.replace(second=0, microsecond=0)


def check_zone(name: str) -> str:
    try:
        validate_time_zone(name)
    except Exception:
        raise InvalidSeries(
            _("%(value)s is not an IANA time zone (for example Europe/London)") % {"value": name}, field="time_zone"
        ) from None
    return name


_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def build_rule(text: str, dtstart: dt.datetime, tz_name: str):
    """dateutil's rrule on naive wall times. An ``UNTIL`` in UTC (RFC 5545's form when DTSTART has a TZID) is turned
    into the series' wall clock, since dateutil refuses to compare a UTC UNTIL with a naive start."""
    body = (text or "").strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or "\n" in body or "DTSTART" in body.upper() or not body.upper().startswith("FREQ="):
        raise InvalidSeries(
            _("rrule must be one RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20"), field="rrule"
        )

    def local_until(match):
        instant = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return f"UNTIL={instant.astimezone(zoneinfo.ZoneInfo(tz_name)).replace(tzinfo=None):%Y%m%dT%H%M%S}"

    body = _UNTIL_UTC.sub(local_until, body)
    try:
        return rrulestr(body, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvalidSeries(
            _("rrule is not a valid RFC 5545 RRULE: %(error)s") % {"error": exc}, field="rrule"
        ) from None


def parse_exdates(values) -> list[str]:
    if values in (None, ""):
        return []
    if not isinstance(values, list | tuple):
        raise InvalidSeries(_("exdates must be a list of wall-clock starts"), field="exdates")
    return sorted({parse_local_start(value, field="exdates").strftime(KEY_FORMAT) for value in values})


# --- expansion -------------------------------------------------------------------------------------------------------


def resolve(wall: dt.datetime, tz_name: str) -> tuple[dt.datetime, str]:
    """The UTC start of a wall-clock time under the module's two rules, and the note saying which applied."""
    found = readings(wall, tz_name)
    if len(found) == 1:
        return found[0], ""
    tz = zone(tz_name)
    # fold=0 in a gap reads with the offset before the change (one gap later); in a repeated hour, the first one.
    start = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    local = start.astimezone(tz)
    if not found:
        note = _(
            "%(wall)s does not exist on %(date)s in %(zone)s (the clocks skip it); moved forward by the gap to %(at)s"
        )
    else:
        note = _("%(wall)s happens twice on %(date)s in %(zone)s; this class is at the first one (%(at)s)")
    return start, note % {
        "wall": f"{wall:%H:%M}",
        "date": f"{wall:%Y-%m-%d}",
        "zone": tz_name,
        "at": f"{local:%H:%M} {local.tzname()}",
    }


def _occurrence(series: Series, wall: dt.datetime, duration: dt.timedelta | None = None) -> Occurrence:
    start, note = resolve(wall, series.time_zone)
    duration = duration or dt.timedelta(minutes=series.duration_minutes)
    return Occurrence(wall.strftime(KEY_FORMAT), wall, start, start + duration, note)


def expand(series: Series, *, after: dt.datetime, until: dt.datetime, limit: int | None = None) -> list[Occurrence]:
    """The series' occurrences starting after ``after`` and at most ``until`` (UTC), in order."""
    dtstart = parse_local_start(series.local_start)
    rule = build_rule(series.rrule, dtstart, series.time_zone)
    tz = zone(series.time_zone)
    # A day's margin on each side: wall-clock and UTC differ by at most a day.
    lo = max(after.astimezone(tz).replace(tzinfo=None) - dt.timedelta(days=1), dtstart - dt.timedelta(seconds=1))
    hi = until.astimezone(tz).replace(tzinfo=None) + dt.timedelta(days=1)
    excluded = set(series.exdates or ())
    found = []
    for wall in rule.between(lo, hi, inc=True):
        key = wall.strftime(KEY_FORMAT)
        if key in excluded or (series.ends_before and key >= series.ends_before):
            continue
        occurrence = _occurrence(series, wall)
        if after < occurrence.start <= until:
            found.append(occurrence)
            if limit and len(found) >= limit:
                break
    return found


def occurrence_at(series: Series, key: str) -> Occurrence:
    """The occurrence the rule gives at wall-clock start ``key``; an InvalidSeries naming ``occurrence`` otherwise."""
    wall = parse_local_start(key, field="occurrence")
    rule = build_rule(series.rrule, parse_local_start(series.local_start), series.time_zone)
    if (
        wall not in rule.between(wall - dt.timedelta(minutes=1), wall + dt.timedelta(minutes=1), inc=True)
        or wall.strftime(KEY_FORMAT) in (series.exdates or ())
        or (series.ends_before and wall.strftime(KEY_FORMAT) >= series.ends_before)
    ):
        raise InvalidSeries(
            _("%(key)s is not an occurrence of this series (give its original local start)") % {"key": key},
            field="occurrence",
        )
    return _occurrence(series, wall)


def preview(series: Series, *, now: dt.datetime, count: int = 8, student_zone: str = "") -> list[dict]:
    """The next occurrences as UTC, in the series' (teacher's) zone and in ``student_zone``: the admin form's check."""
    rows = []
    for occurrence in expand(series, after=now, until=now + dt.timedelta(days=CHECK_DAYS), limit=count):
        row = {
            "key": occurrence.key,
            "utc": occurrence.start,
            "teacher": occurrence.start.astimezone(zone(series.time_zone)),
            "note": occurrence.note,
        }
        if student_zone:
            row["student"] = occurrence.start.astimezone(zone(student_zone))
        rows.append(row)
    return rows


def validate(series: Series, *, now: dt.datetime) -> None:
    """Every rule of a series' fields, each refusal naming its field (the API's 400, the admin form's error)."""
    check_zone(series.time_zone)
    dtstart = parse_local_start(series.local_start)
    series.local_start = dtstart.strftime(KEY_FORMAT)
    series.exdates = parse_exdates(series.exdates)
    if not 1 <= int(series.duration_minutes or 0) <= settings.MAX_MEETING_DURATION_MINUTES:
        raise InvalidSeries(
            _("duration_minutes must be between 1 and %(max)s") % {"max": settings.MAX_MEETING_DURATION_MINUTES},
            field="duration_minutes",
        )
    build_rule(series.rrule, dtstart, series.time_zone)
    first = local_to_utc_or_shift(dtstart, series.time_zone)
    upcoming = expand(
        series,
        after=min(now, first) - dt.timedelta(seconds=1),
        until=first + dt.timedelta(days=CHECK_DAYS),
        limit=CHECK_MAX,
    )
    if not upcoming:
        raise InvalidSeries(_("this rule makes no occurrence"), field="rrule")
    days: set[dt.date] = set()
    for previous, occurrence in zip([None, *upcoming], upcoming, strict=False):
        if occurrence.wall.date() in days:
            raise InvalidSeries(
                _("this rule makes more than one class a day for the teacher (%(date)s)")
                % {"date": f"{occurrence.wall:%Y-%m-%d}"},
                field="rrule",
            )
        days.add(occurrence.wall.date())
        if previous is not None and occurrence.start < previous.end:
            raise InvalidSeries(
                _("the occurrences at %(a)s and %(b)s overlap") % {"a": previous.key, "b": occurrence.key},
                field="rrule",
            )


def local_to_utc_or_shift(wall: dt.datetime, tz_name: str) -> dt.datetime:
    return resolve(wall, tz_name)[0]


def check_teacher_free(series: Series, *, now: dt.datetime) -> None:
    """A new series must not put the teacher in two classes at once within the horizon."""
    horizon = now + dt.timedelta(days=settings.SERIES_HORIZON_DAYS)
    occurrences = expand(series, after=now, until=horizon)
    if not occurrences:
        return
    busy = Meeting.objects.filter(
        teacher_id=series.teacher_id,
        state__in=[State.SCHEDULED, State.OPEN, State.IN_PROGRESS],
        start_time__lt=occurrences[-1].end,
        end_time__gt=occurrences[0].start,
    )
    if series.pk:
        busy = busy.exclude(series_id=series.pk)
    spans = list(busy.values_list("start_time", "end_time", "title"))
    for occurrence in occurrences:
        for start, end, title in spans:
            if start < occurrence.end and occurrence.start < end:
                raise InvalidSeries(
                    _("the occurrence at %(key)s overlaps the teacher's class '%(title)s'")
                    % {"key": occurrence.key, "title": title},
                    field="local_start",
                )


# --- create, materialise ---------------------------------------------------------------------------------------------


def create_series(
    *,
    teacher,
    course,
    title: str,
    local_start,
    time_zone: str,
    duration_minutes: int,
    rrule: str,
    now: dt.datetime,
    exdates=None,
    capacity: int | None = None,
    actor=None,
) -> Series:
    series = Series(
        teacher=teacher,
        course=course,
        title=title or course.title,
        capacity=capacity,
        local_start=local_start,
        time_zone=time_zone or teacher.time_zone,
        duration_minutes=duration_minutes,
        rrule=(rrule or "").strip().removeprefix("RRULE:"),
        exdates=exdates or [],
    )
    validate(series, now=now)
    check_teacher_free(series, now=now)
    with transaction.atomic():
        series.save()
        _history(series, "", "created", now=now, actor=actor, reason="series created", data=_describe(series))
    materialise(series, now=now)
    return series


def _describe(series: Series) -> dict:
    return {
        "local_start": series.local_start,
        "time_zone": series.time_zone,
        "duration_minutes": series.duration_minutes,
        "rrule": series.rrule,
        "exdates": list(series.exdates or ()),
        "ends_before": series.ends_before,
        "title": series.title,
    }


def _history(series: Series, from_state: str, to_state: str, *, now, actor, reason: str, field="series", data=None):
    audit.record(
        Series,
        [(series.pk, from_state[:32], None)],
        to_state=to_state[:32],
        at=now,
        actor=actor,
        field=field,
        reason=reason,
        data=data,
    )


def materialise_series(now: dt.datetime) -> Counter:
    """The sweep: every series' occurrences within SERIES_HORIZON_DAYS of ``now`` exist as meetings, untouched ones
    still match their wall-clock time (a new tzdata moves instants), and the week-before notices are written."""
    counts = Counter()
    for series in Series.objects.select_related("teacher", "course").order_by("pk"):
        try:
            counts += materialise(series, now=now)
        except DomainError:
            # One series that can no longer be read (a zone removed from tzdata) must not stop the others.
            logger.exception("series could not be materialised", extra={"series_id": series.pk})
            counts["failed"] += 1
    return counts


def materialise(series: Series, *, now: dt.datetime) -> Counter:
    counts = Counter()
    horizon = now + dt.timedelta(days=settings.SERIES_HORIZON_DAYS)
    with transaction.atomic():
        # One worker at a time per series; the unique (series, original_local_start) is the backstop.
        series = Series.objects.select_for_update(no_key=True).select_related("teacher", "course").get(pk=series.pk)
        occurrences = expand(series, after=now, until=horizon)
        if not occurrences:
            return counts
        existing = {
            m.original_local_start: m
            for m in Meeting.objects.filter(series=series, original_local_start__gte=occurrences[0].key[:10])
        }
        days = {key[:10] for key in existing}
        for occurrence in occurrences:
            meeting = existing.get(occurrence.key)
            if meeting is None:
                if occurrence.key[:10] in days:  # that day's class exists under another key (moved by an edit)
                    continue
                if _create_occurrence(series, occurrence, now=now):
                    counts["created"] += 1
                else:
                    counts["already"] += 1
            elif _reexpand(meeting, occurrence, now=now):
                counts["corrected"] += 1
    counts["time_change_notices"] += _time_change_notices(series, now=now)
    return counts


def _create_occurrence(series: Series, occurrence: Occurrence, *, now: dt.datetime) -> Meeting | None:
    try:
        with transaction.atomic():
            meeting = lifecycle.schedule_meeting(
                teacher=series.teacher,
                course=series.course,
                title=series.title,
                start_time=occurrence.start,
                end_time=occurrence.end,
                capacity=series.capacity,
                now=now,
                series=series,
                original_local_start=occurrence.key,
                series_note=occurrence.note,
            )
    except IntegrityError:  # another worker made it first
        return None
    for subscription in series.subscriptions.filter(cancelled_at__isnull=True).select_related("student"):
        _book_occurrence(subscription.student, meeting, now=now)
    return meeting


def _reexpand(meeting: Meeting, occurrence: Occurrence, *, now: dt.datetime) -> bool:
    """An untouched scheduled occurrence whose instant no longer reads as its wall-clock time (the zone's rules
    changed with a new tzdata) is moved back onto it, with history, and its students are told."""
    if meeting.series_detached or meeting.state != State.SCHEDULED:
        return False
    if (meeting.start_time, meeting.end_time) == (occurrence.start, occurrence.end):
        return False
    if occurrence.start <= now:
        return False
    lifecycle.edit_meeting(
        meeting,
        now=now,
        start_time=occurrence.start,
        end_time=occurrence.end,
        detach=False,
        reason=f"re-expanded: {occurrence.key} {meeting.series.time_zone} is now {occurrence.start:%Y-%m-%dT%H:%MZ}",
    )
    Meeting.objects.filter(pk=meeting.pk).update(series_note=occurrence.note)
    return True


def _book_occurrence(student, meeting: Meeting, *, now: dt.datetime) -> str:
    """A subscriber's seat in one occurrence; a full one is skipped with a message, never an error for the series."""
    try:
        with transaction.atomic():
            booking_transitions.book(student, meeting, now=now)
    except ClassFull:
        outbox.enqueue(outbox.to_student(Kind.SERIES_OCCURRENCE_FULL, student, now=now, meeting=meeting))
        return "full"
    except (AlreadyBooked, BookingClosed, OwnClass):
        return "skipped"
    return "booked"


def _reader_day(moment: dt.datetime, language: str) -> str:
    """A day of a month as the reader's language writes it in a message: "29 March", "29/3", "3月29日" (the format
    itself is in the catalogue)."""
    with translation.override(language):
        return formats.date_format(moment, pgettext("date format of a day of a month in a message", "j F"))


def _city(tz_name: str) -> str:
    return tz_name.rpartition("/")[2].replace("_", " ")


def _time_change_notices(series: Series, *, now: dt.datetime) -> int:
    """Everyone whose local time of this class moves (students in zones without daylight saving when the teacher's
    zone changes; the teacher when a wall time had to be shifted) is told once, in the week before the first class
    at the new time. The outbox key names that class and the new time, so reruns write nothing twice. Occurrences
    moved on their own are left out on both sides (their move was announced by the reschedule message)."""
    upcoming = list(
        Meeting.objects.filter(
            series=series,
            series_detached=False,
            state=State.SCHEDULED,
            start_time__gt=now,
            start_time__lte=now + TIME_CHANGE_NOTICE,
        ).order_by("start_time")
    )
    # Their students with their contacts, in one go for all the classes (not one query per student).
    students_of = outbox.contacts_by_meeting(
        Booking.objects.filter(meeting__in=upcoming, status=Booking.Status.CONFIRMED)
    )
    rows = []
    for meeting in upcoming:
        previous = (
            # The class at the usual time before it: an occurrence moved on its own says nothing about the rule.
            Meeting.objects.filter(series=series, series_detached=False, start_time__lt=meeting.start_time)
            .exclude(state=State.CANCELLED)
            .order_by("-start_time")
            .first()
        )
        if previous is None:
            continue
        recipients = [
            outbox.for_teacher(series.teacher),
            *(r for s in students_of.get(meeting.pk, []) for r in outbox.for_student(s, Kind.SERIES_TIME_CHANGE)),
        ]
        for recipient in recipients:
            tz = zone(recipient.time_zone)
            old, new = previous.start_time.astimezone(tz), meeting.start_time.astimezone(tz)
            if (old.hour, old.minute) == (new.hour, new.minute):
                continue
            context = {
                "day": _reader_day(new, recipient.language),
                "old_start": f"{old:%H:%M}",
                "city": _city(recipient.time_zone),
                "series_zone": series.time_zone,
                "note": meeting.series_note,
            }
            rows.append(
                outbox.message(
                    Kind.SERIES_TIME_CHANGE,
                    recipient,
                    now=now,
                    meeting=meeting,
                    context=context,
                    dedupe_suffix=f":{new:%H%M}",
                )
            )
    return outbox.enqueue(rows)


# --- edits: this occurrence, this and following, all -----------------------------------------------------------------

SCOPES = ("this", "following", "all")


@dataclasses.dataclass
class Change:
    """What an edit changes. ``local_start``: the new wall-clock start of one occurrence (scope "this");
    ``local_time``: the new time of day of every occurrence in scope ("following", "all")."""

    local_start: dt.datetime | None = None
    local_time: dt.time | None = None
    duration_minutes: int | None = None
    title: str = ""


def _occurrence_meeting(series: Series, key: str, *, now: dt.datetime) -> Meeting:
    """The meeting of the occurrence at original local start ``key``, made now if the horizon has not reached it."""
    existing = Meeting.objects.filter(series=series, original_local_start=key).first()
    if existing is not None:
        return existing
    occurrence = occurrence_at(series, key)
    if occurrence.start <= now:
        raise IllegalTransition(_("the occurrence at %(key)s is in the past") % {"key": key})
    return _create_occurrence(series, occurrence, now=now) or Meeting.objects.get(
        series=series, original_local_start=key
    )


def _future_in_scope(series: Series, *, now: dt.datetime, from_key: str = ""):
    """The occurrences an edit may touch: not yet open (past and open ones never change)."""
    meetings = Meeting.objects.filter(series=series, state=State.SCHEDULED, start_time__gt=now)
    if from_key:
        meetings = meetings.filter(original_local_start__gte=from_key)
    return meetings.select_related("series").order_by("start_time")


def change_series(series: Series, *, scope: str, now: dt.datetime, change: Change, occurrence: str = "", actor=None):
    """Edit a series the way calendars offer it. Returns the meetings changed (for "this": the one)."""
    if scope not in SCOPES:
        raise InvalidSeries(_("scope must be this, following or all"), field="scope")
    if (
        change.duration_minutes is not None
        and not 1 <= change.duration_minutes <= settings.MAX_MEETING_DURATION_MINUTES
    ):
        raise InvalidSeries(
            _("duration_minutes must be between 1 and %(max)s") % {"max": settings.MAX_MEETING_DURATION_MINUTES},
            field="duration_minutes",
        )
    if scope == "this":
        return [_change_this(series, occurrence, change, now=now, actor=actor)]
    if change.local_start is not None:
        raise InvalidSeries(
            _("local_start moves one occurrence; use local_time for following or all"), field="local_start"
        )
    if scope == "following":
        if not occurrence:
            raise InvalidSeries(_("give the occurrence (its original local start) to edit from"), field="occurrence")
        return _change_following(series, occurrence, change, now=now, actor=actor)
    return _change_all(series, change, now=now, actor=actor)


def _change_this(series: Series, key: str, change: Change, *, now, actor) -> Meeting:
    if not key:
        raise InvalidSeries(_("give the occurrence (its original local start) to edit"), field="occurrence")
    with transaction.atomic():
        meeting = _occurrence_meeting(series, key, now=now)
        start = end = None
        if change.local_start is not None or change.duration_minutes:
            wall = change.local_start or parse_local_start(key)
            # A time typed by a person is never shifted: one in a gap or a repeated hour is refused with the choices.
            start = (
                local_to_utc(wall, series.time_zone, field="local_start") if change.local_start else meeting.start_time
            )
            end = start + dt.timedelta(minutes=change.duration_minutes or series.duration_minutes)
        meeting = lifecycle.edit_meeting(
            meeting, now=now, actor=actor, start_time=start, end_time=end, title=change.title or None
        )
        Meeting.objects.filter(pk=meeting.pk).update(series_detached=True)
        _history(
            series,
            key,
            "this occurrence edited",
            now=now,
            actor=actor,
            field="occurrence",
            reason=f"occurrence {key} edited (meeting {meeting.pk})",
            data={"meeting_id": meeting.pk, "start_time": meeting.start_time.isoformat()},
        )
    return meeting


def _retime(series: Series, meetings, change: Change, *, now, actor, new_series: Series | None = None) -> list:
    """Re-key ``meetings`` (an edit's scope) under ``new_series`` (or ``series``) with the new time of day, and move
    the untouched ones onto their new times; detached ones keep their own times."""
    target = new_series or series
    changed = []
    for meeting in meetings:
        old_wall = parse_local_start(meeting.original_local_start)
        wall = dt.datetime.combine(old_wall.date(), change.local_time) if change.local_time else old_wall
        Meeting.objects.filter(pk=meeting.pk).update(series=target, original_local_start=wall.strftime(KEY_FORMAT))
        if meeting.series_detached:
            continue
        occurrence = _occurrence(target, wall)
        meeting = lifecycle.edit_meeting(
            meeting,
            now=now,
            actor=actor,
            start_time=occurrence.start,
            end_time=occurrence.end,
            title=change.title or None,
            detach=False,
        )
        Meeting.objects.filter(pk=meeting.pk).update(series_note=occurrence.note)
        changed.append(meeting)
    return changed


def _apply(series: Series, change: Change) -> None:
    if change.local_time:
        start = parse_local_start(series.local_start)
        series.local_start = dt.datetime.combine(start.date(), change.local_time).strftime(KEY_FORMAT)
        series.exdates = [f"{key[:10]}T{change.local_time:%H:%M}" for key in series.exdates or ()]
    if change.duration_minutes:
        series.duration_minutes = change.duration_minutes
    if change.title:
        series.title = change.title


def _change_all(series: Series, change: Change, *, now, actor) -> list:
    with transaction.atomic():
        series = Series.objects.select_for_update(no_key=True).get(pk=series.pk)
        before = _describe(series)
        _apply(series, change)
        validate(series, now=now)
        series.save()
        changed = _retime(series, _future_in_scope(series, now=now), change, now=now, actor=actor)
        _history(
            series,
            "",
            "all edited",
            now=now,
            actor=actor,
            reason="every future occurrence edited",
            data={"before": before, "after": _describe(series), "meetings": [m.pk for m in changed]},
        )
    return changed


def _remaining_count(series: Series, key: str) -> str:
    """The rule for the part of ``series`` from ``key`` on: a COUNT counts only what is left."""
    rule = series.rrule
    match = re.search(r"COUNT=(\d+)", rule, re.IGNORECASE)
    if not match:
        return rule
    dtstart = parse_local_start(series.local_start)
    before = len(build_rule(rule, dtstart, series.time_zone).between(dtstart, parse_local_start(key), inc=True)) - 1
    return re.sub(r"COUNT=\d+", f"COUNT={max(1, int(match.group(1)) - before)}", rule, flags=re.IGNORECASE)


def _change_following(series: Series, key: str, change: Change, *, now, actor) -> list:
    """Split: the series ends before ``key``; a new series (``parent`` = this one) continues from there with the
    change. Its occurrences, subscriptions and edited occurrences move over, never duplicated."""
    with transaction.atomic():
        series = Series.objects.select_for_update(no_key=True).select_related("teacher", "course").get(pk=series.pk)
        occurrence = occurrence_at(series, key)
        if occurrence.start <= now:
            raise IllegalTransition(_("the occurrence at %(key)s has started; edit from a future one") % {"key": key})
        successor = Series(
            teacher=series.teacher,
            course=series.course,
            title=series.title,
            capacity=series.capacity,
            local_start=key,
            time_zone=series.time_zone,
            duration_minutes=series.duration_minutes,
            rrule=_remaining_count(series, key),
            exdates=[d for d in series.exdates or () if d >= key],
            parent=series,
        )
        _apply(successor, change)
        validate(successor, now=now)
        successor.save()
        series.ends_before = key
        series.save(update_fields=["ends_before", "updated_at"])
        moved = Meeting.objects.filter(series=series, original_local_start__gte=key).select_related("series")
        future = [m for m in moved if m.state == State.SCHEDULED and m.start_time > now]
        changed = _retime(series, future, change, now=now, actor=actor, new_series=successor)
        SeriesSubscription.objects.filter(series=series, cancelled_at__isnull=True).update(series=successor)
        _history(
            series,
            "",
            "split",
            now=now,
            actor=actor,
            reason=f"this and following from {key}: series {successor.pk}",
            data={"successor": successor.pk, "from": key, "meetings": [m.pk for m in changed]},
        )
        _history(
            successor,
            "",
            "created",
            now=now,
            actor=actor,
            reason=f"continues series {series.pk} from {key}",
            data=_describe(successor),
        )
    return changed


def cancel_series(series: Series, *, scope: str, now: dt.datetime, reason: str, occurrence: str = "", actor=None):
    """Cancel one occurrence, this and following, or every future one. Past and open occurrences stay."""
    if scope not in SCOPES:
        raise InvalidSeries(_("scope must be this, following or all"), field="scope")
    reason = reason or _("cancelled")
    with transaction.atomic():
        series = Series.objects.select_for_update(no_key=True).get(pk=series.pk)
        if scope == "this":
            if not occurrence:
                raise InvalidSeries(_("give the occurrence (its original local start) to cancel"), field="occurrence")
            meetings = [_occurrence_meeting(series, occurrence, now=now)]
        else:
            if scope == "following":
                if not occurrence:
                    raise InvalidSeries(_("give the occurrence to cancel from"), field="occurrence")
                cut = occurrence_at(series, occurrence).key
            else:
                first = expand(series, after=now, until=now + dt.timedelta(days=CHECK_DAYS), limit=1)
                cut = (
                    first[0].key
                    if first
                    else (series.ends_before or parse_local_start(series.local_start).strftime(KEY_FORMAT))
                )
            meetings = list(_future_in_scope(series, now=now, from_key=cut))
            if not series.ends_before or cut < series.ends_before:
                series.ends_before = cut
                series.save(update_fields=["ends_before", "updated_at"])
        for meeting in meetings:
            lifecycle.cancel_meeting(meeting, now=now, actor=actor, reason=reason)
        Meeting.objects.filter(pk__in=[m.pk for m in meetings]).update(series_detached=True)
        _history(
            series,
            "",
            f"cancelled {scope}",
            now=now,
            actor=actor,
            reason=reason,
            data={"occurrence": occurrence, "meetings": [m.pk for m in meetings]},
        )
    return meetings


# --- subscriptions ---------------------------------------------------------------------------------------------------


def subscribe(series: Series, student, *, now: dt.datetime, actor=None) -> tuple[SeriesSubscription, Counter]:
    """Book every future occurrence (made ones now, later ones as the sweep makes them); full ones are skipped with
    a message to the student."""
    counts = Counter()
    with transaction.atomic():
        try:
            with transaction.atomic():
                subscription = SeriesSubscription.objects.create(series=series, student=student, created_at=now)
        except IntegrityError:
            raise AlreadySubscribed(
                _("%(student)s already follows '%(title)s'") % {"student": student, "title": series.title}
            ) from None
        _history(
            series,
            "",
            "subscribed",
            now=now,
            actor=actor,
            field="subscription",
            reason=f"{student} subscribed",
            data={"student_id": student.pk, "subscription_id": subscription.pk},
        )
        for meeting in _future_in_scope(series, now=now):
            counts[_book_occurrence(student, meeting, now=now)] += 1
    return subscription, counts


def cancel_subscription(subscription: SeriesSubscription, *, now: dt.datetime, actor=None) -> Counter:
    """Stop following: the seats in occurrences that have not started are given back (refunded), those past their
    cancellation cutoff stay booked (counted ``kept``)."""
    counts = Counter()
    with transaction.atomic():
        if not SeriesSubscription.objects.filter(pk=subscription.pk, cancelled_at__isnull=True).update(
            cancelled_at=now
        ):
            return counts
        # A split moved the subscription to the continuing series; its seats may be in any part of the lineage.
        series_ids = lineage(subscription.series)
        bookings = Booking.objects.filter(
            Q(meeting__series_id__in=series_ids),
            student_id=subscription.student_id,
            status__in=Booking.SEAT_HOLDING,
            meeting__state=State.SCHEDULED,
            meeting__start_time__gt=now,
        )
        for booking in bookings:
            try:
                booking_transitions.cancel_booking(
                    booking, now=now, actor=actor, reason="series subscription cancelled"
                )
                counts["released"] += 1
            except CancellationTooLate:
                counts["kept"] += 1
        _history(
            subscription.series,
            "",
            "unsubscribed",
            now=now,
            actor=actor,
            field="subscription",
            reason=f"{subscription.student} unsubscribed",
            data=dict(counts),
        )
    return counts


def lineage(series: Series) -> list[int]:
    """This series, the ones it continues and the ones continuing it ("this and following" splits)."""
    return [series.pk, *ancestors(series), *descendants(series.pk)]


def ancestors(series: Series) -> list[int]:
    """The series this one continues (a "this and following" split), nearest first."""
    found, current = [], series.parent_id
    while current:
        found.append(current)
        current = Series.objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return found


def descendants(series_id: int) -> list[int]:
    found, frontier = [], [series_id]
    while frontier:
        frontier = list(Series.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        found += frontier
    return found
