"""Message templates per kind and role, from the gettext catalogues, rendered in the recipient's language and zone.

Plain ``str.format`` templates rather than Django templates: an open burst renders ~11 messages per meeting for
thousands of meetings in one transaction, and these render two orders of magnitude faster. Each template is a msgid
with a context naming its (kind, role); its Vietnamese and Traditional Chinese texts are in ``locale/`` (README,
"Languages"). A template is translated once per (kind, role, language) and kept (:func:`template`), so a burst pays
for ``translation.override`` once per language, not once per message.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.utils import translation
from django.utils.translation import pgettext_lazy

from core.i18n import Reason
from core.timezones import to_local

# (kind, role) -> template. Roles: student, guardian, teacher, staff. A language without a translation gets the English.
TEMPLATES = {
    ("class_open", "student"): pgettext_lazy(
        "class_open to a student", "Your class '{title}' is open now. It started at {start} ({zone})."
    ),
    ("class_open", "teacher"): pgettext_lazy(
        "class_open to a teacher",
        "Your class '{title}' is open. It started at {start} ({zone}); {students} students are booked.",
    ),
    ("join_link", "student"): pgettext_lazy(
        "join_link to a student", "Your class '{title}' starts at {start} ({zone}). Join here: {url}"
    ),
    ("feedback_link", "student"): pgettext_lazy(
        "feedback_link to a student", "Your class '{title}' ends at {end} ({zone}). How was it? Tell us: {url}"
    ),
    ("class_closed", "teacher"): pgettext_lazy(
        "class_closed to a teacher", "Your class '{title}' ({date} {start}, {zone}) has closed."
    ),
    # The early close (meetings.sweeps.close_empty_meetings): {until} is when the late-join grace ended, in the
    # teacher's zone.
    ("class_closed_empty", "teacher"): pgettext_lazy(
        "class_closed_empty to a teacher",
        "No student had joined your class '{title}' ({date} {start}, {zone}) by {until}, when joining closed, so the "
        "class has closed and its room has ended.",
    ),
    ("class_cancelled", "student"): pgettext_lazy(
        "class_cancelled to a student",
        "Your class '{title}' on {date} at {start} ({zone}) is cancelled: {reason}. Your payment is refunded.",
    ),
    ("class_cancelled", "teacher"): pgettext_lazy(
        "class_cancelled to a teacher", "Your class '{title}' on {date} at {start} ({zone}) is cancelled: {reason}."
    ),
    ("class_rescheduled", "student"): pgettext_lazy(
        "class_rescheduled to a student",
        "Your class '{title}' has moved: it is now on {date} at {start} ({zone}), until {end}.",
    ),
    ("class_rescheduled", "teacher"): pgettext_lazy(
        "class_rescheduled to a teacher",
        "Your class '{title}' has moved: it is now on {date} at {start} ({zone}), until {end}.",
    ),
    ("booking_cancelled", "student"): pgettext_lazy(
        "booking_cancelled to a student",
        "Your booking for '{title}' on {date} at {start} ({zone}) is cancelled and your payment is refunded.",
    ),
    ("booking_cancelled", "teacher"): pgettext_lazy(
        "booking_cancelled to a teacher",
        "{student} cancelled their booking for '{title}' on {date} at {start} ({zone}).",
    ),
    ("booking_refunded", "student"): pgettext_lazy(
        "booking_refunded to a student", "Your booking for '{title}' on {date} ({zone}) is refunded: {reason}."
    ),
    # A guardian's messages name the student (their LINE contact opted in to the kind; the join link by default).
    ("class_open", "guardian"): pgettext_lazy(
        "class_open to a guardian",
        "Your child {student}'s class '{title}' is open now. It started at {start} ({zone}).",
    ),
    ("join_link", "guardian"): pgettext_lazy(
        "join_link to a guardian",
        "Your child {student}'s class '{title}' starts at {start} ({zone}). Join link: {url}",
    ),
    ("feedback_link", "guardian"): pgettext_lazy(
        "feedback_link to a guardian",
        "Your child {student}'s class '{title}' ends at {end} ({zone}). Feedback: {url}",
    ),
    ("class_cancelled", "guardian"): pgettext_lazy(
        "class_cancelled to a guardian",
        "Your child {student}'s class '{title}' on {date} at {start} ({zone}) is cancelled: {reason}.",
    ),
    ("class_rescheduled", "guardian"): pgettext_lazy(
        "class_rescheduled to a guardian",
        "Your child {student}'s class '{title}' has moved: it is now on {date} at {start} ({zone}), until {end}.",
    ),
    ("booking_cancelled", "guardian"): pgettext_lazy(
        "booking_cancelled to a guardian",
        "Your child {student}'s booking for '{title}' on {date} at {start} ({zone}) is cancelled.",
    ),
    ("booking_refunded", "guardian"): pgettext_lazy(
        "booking_refunded to a guardian",
        "Your child {student}'s booking for '{title}' on {date} ({zone}) is refunded: {reason}.",
    ),
    # A weekly class keeps its wall-clock time in the teacher's zone; when that zone (or the reader's) changes its
    # clocks, the reader's local time moves. Sent in the week before the first class at the new time.
    ("series_time_change", "student"): pgettext_lazy(
        "series_time_change to a student",
        "From {day} your class '{title}' is at {start} {city} time (it was at {old_start}): the clocks change "
        "in {series_zone}.",
    ),
    ("series_time_change", "teacher"): pgettext_lazy(
        "series_time_change to a teacher",
        "From {day} your class '{title}' is at {start} {city} time (it was at {old_start}). {note}",
    ),
    ("series_occurrence_full", "student"): pgettext_lazy(
        "series_occurrence_full to a student",
        "The class '{title}' on {date} at {start} ({zone}) of your weekly class is full, so you have no seat "
        "in that one. Your other classes are booked as usual.",
    ),
    ("recording_ready", "student"): pgettext_lazy(
        "recording_ready to a student",
        "The recording of your class '{title}' ({date} {start}, {zone}) is ready. Watch it here: {url}",
    ),
    ("recording_ready", "guardian"): pgettext_lazy(
        "recording_ready to a guardian",
        "The recording of your child {student}'s class '{title}' ({date} {start}, {zone}) is ready: {url}",
    ),
    ("teacher_no_show", "staff"): pgettext_lazy(
        "teacher_no_show to staff", "Meeting {meeting_id} '{title}' ({date} {start} {zone}) needs review: {reason}."
    ),
    ("delivery_failed", "staff"): pgettext_lazy(
        "delivery_failed to staff",
        "A message could not be delivered after {attempts} attempts ({reason}). Notification {notification_id}.",
    ),
}

# The kinds a guardian may opt in to (those with a guardian template).
GUARDIAN_KINDS = tuple(kind for kind, role in TEMPLATES if role == "guardian")

# The e-mail subject of each kind (LINE messages have none).
SUBJECTS = {
    "class_open": pgettext_lazy("e-mail subject", "Your class is open"),
    "join_link": pgettext_lazy("e-mail subject", "Your join link"),
    "feedback_link": pgettext_lazy("e-mail subject", "How was your class?"),
    "class_closed": pgettext_lazy("e-mail subject", "Your class has closed"),
    "class_closed_empty": pgettext_lazy("e-mail subject", "Your class has closed: no student joined"),
    "class_cancelled": pgettext_lazy("e-mail subject", "Your class is cancelled"),
    "class_rescheduled": pgettext_lazy("e-mail subject", "Your class has moved"),
    "booking_cancelled": pgettext_lazy("e-mail subject", "Your booking is cancelled"),
    "booking_refunded": pgettext_lazy("e-mail subject", "Your booking is refunded"),
    "series_time_change": pgettext_lazy("e-mail subject", "Your weekly class is at a new local time"),
    "series_occurrence_full": pgettext_lazy("e-mail subject", "One of your weekly classes is full"),
    "recording_ready": pgettext_lazy("e-mail subject", "Your class recording is ready"),
    "teacher_no_show": pgettext_lazy("e-mail subject", "A class needs review"),
    "delivery_failed": pgettext_lazy("e-mail subject", "A message could not be delivered"),
}


@functools.lru_cache(maxsize=512)
def subject(kind: str, language: str) -> str:
    """The e-mail subject of ``kind`` in ``language`` (cached like :func:`template`)."""
    with translation.override(language):
        return str(SUBJECTS[kind])


@functools.lru_cache(maxsize=512)
def template(kind: str, role: str, language: str) -> str:
    """The (kind, role) template in ``language``, from the catalogue. Cached: the catalogues are read at start-up
    and never change while the process runs."""
    try:
        lazy = TEMPLATES[(kind, role)]
    except KeyError:
        raise LookupError(f"no template for {kind} to a {role}") from None
    with translation.override(language):
        return str(lazy)


def render(kind: str, role: str, language: str, context: dict) -> str:
    """The message in ``language``. A :class:`core.i18n.Reason` in the context is translated into the same
    language; any other value (a title, a reason staff typed) is shown as it is."""
    if any(isinstance(value, Reason) for value in context.values()):
        with translation.override(language):
            context = {key: str(value) if isinstance(value, Reason) else value for key, value in context.items()}
    return template(kind, role, language).format(**context)


# The values a ZNS template's parameters may name (the admin maps each parameter to one of them).
ZALO_VALUES = ("message", "name", "student", "title", "date", "start", "end", "zone", "reason", "url")


def zalo_values(kind: str, role: str, context: dict, start, end, tz_name: str) -> dict:
    """A message's values for a ZNS template, in Vietnamese whatever the reader's language (ZNS templates are
    approved in Vietnamese): dates as 01/12/2026 and times as 19:00, in the reader's zone; ``message`` is the whole
    text of the kind in Vietnamese."""
    values = dict(context)
    if start is not None:
        local_start, local_end = to_local(start, tz_name), to_local(end, tz_name)
        values.update(
            date=local_start.strftime("%d/%m/%Y"),
            start=local_start.strftime("%H:%M"),
            end=local_end.strftime("%H:%M"),
            zone=tz_name,
        )
    with translation.override("vi"):
        values = {key: str(value) if isinstance(value, Reason) else value for key, value in values.items()}
    try:
        values["message"] = render(kind, role, "vi", values)
    except (LookupError, KeyError, IndexError):
        values["message"] = ""  # a kind with no text for this role: its template's own wording carries it
    return {key: str(values[key]) for key in ZALO_VALUES if values.get(key) not in (None, "")}


def time_context(start: dt.datetime, end: dt.datetime, tz_name: str) -> dict:
    local_start, local_end = to_local(start, tz_name), to_local(end, tz_name)
    return {
        "date": local_start.strftime("%Y-%m-%d"),
        "start": local_start.strftime("%H:%M"),
        "end": local_end.strftime("%H:%M"),
        "zone": tz_name,
    }
