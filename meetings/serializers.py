"""API shapes of meetings: what is shown (UTC and the caller's local time) and how times are accepted.

Times come in one of two ways, never guessed:
  * ISO 8601 with an offset: ``"2026-07-01T20:00:00+07:00"`` or ``"2026-07-01T13:00:00Z"`` (no ``time_zone``);
  * a wall-clock time plus an explicit IANA zone: ``"2026-07-01T20:00"`` with ``"time_zone": "Asia/Ho_Chi_Minh"``.
A naive time without a zone, an end before its start, a start in the past, a class longer than
MAX_MEETING_DURATION_MINUTES, a wall time that does not exist (a daylight-saving gap) or happens twice (the repeated
hour of a fall-back night), or two wall times whose real length differs from what the clock says (they cross a clock
change) is a 400 naming the field and, for the last two, the readings to choose from with their offsets.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import Booking
from bookings.transitions import cancellation_cutoff
from classroom.models import Course, Teacher
from classroom.serializers import (
    PersonSerializer,
    StrictCharField,
    StrictIntegerField,
    StrictPrimaryKeyRelatedField,
    TimeZoneField,
    local_iso,
    request_zone,
    student_of,
    utc_iso,
)
from core.errors import InvalidTime
from core.timezones import check_wall_interval, local_to_utc, require_aware
from meetings.models import Meeting


class LocalTimesSerializer(serializers.Serializer):
    time_zone = serializers.CharField(help_text="The caller's IANA zone (GET/PATCH /api/v1/me/).")
    start_time = serializers.DateTimeField(help_text="start_time in that zone, with its offset.")
    end_time = serializers.DateTimeField(help_text="end_time in that zone, with its offset.")


class CourseBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class MyBookingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Booking.Status.choices)


class MeetingSerializer(serializers.ModelSerializer):
    course = CourseBriefSerializer(read_only=True)
    teacher = PersonSerializer(read_only=True)
    start_time = serializers.SerializerMethodField(help_text="UTC")
    end_time = serializers.SerializerMethodField(help_text="UTC")
    local = serializers.SerializerMethodField(help_text="The same times in the caller's zone.")
    seats_left = serializers.IntegerField(read_only=True)
    my_booking = serializers.SerializerMethodField(help_text="The caller's seat in this class (students), or null.")
    cancellation_cutoff = serializers.SerializerMethodField(
        help_text="UTC: a booking can be cancelled before this moment."
    )

    class Meta:
        model = Meeting
        fields = [
            "id",
            "title",
            "course",
            "teacher",
            "state",
            "start_time",
            "end_time",
            "local",
            "capacity",
            "seats_taken",
            "seats_left",
            "cancellation_cutoff",
            "policy",
            "my_booking",
            "series",
            "original_local_start",
            "series_note",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "series": {"help_text": "The weekly class this is an occurrence of, or null."},
            "original_local_start": {"help_text": "Its start as the series' rule gives it (wall clock, series zone)."},
            "series_note": {"help_text": "What the rule did with a wall time the clocks skip or show twice."},
            "policy": {"help_text": "The policy version whose windows and money rules apply to this class."},
        }

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_start_time(self, meeting) -> str:
        return utc_iso(meeting.start_time)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_end_time(self, meeting) -> str:
        return utc_iso(meeting.end_time)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_cancellation_cutoff(self, meeting) -> str:
        return utc_iso(cancellation_cutoff(meeting))

    @extend_schema_field(LocalTimesSerializer)
    def get_local(self, meeting) -> dict:
        tz = self._zone
        return {
            "time_zone": tz,
            "start_time": local_iso(meeting.start_time, tz),
            "end_time": local_iso(meeting.end_time, tz),
        }

    @extend_schema_field(MyBookingSerializer(allow_null=True))
    def get_my_booking(self, meeting) -> dict | None:
        student = self._student
        if student is None:
            return None
        if hasattr(meeting, "my_booking"):  # read for the whole page by meetings.api.VisibleUnion
            booking = meeting.my_booking
        else:
            booking = meeting.bookings.filter(student=student).order_by("-created_at", "-id").values("id", "status")
            booking = booking.first()
        return None if booking is None else {"id": booking["id"], "status": booking["status"]}

    @cached_property
    def _zone(self) -> str:
        # Once per serializer: a list's rows share one child serializer, so one lookup for the page.
        return request_zone(self.context)

    @cached_property
    def _student(self):
        request = self.context.get("request")
        return student_of(request.user) if request is not None else None

    def to_representation(self, meeting) -> dict:
        """The fields above, written out: DRF's generic walk (a field object and its lookups for each of 17 fields,
        then the nested course and teacher serializers) was most of a list request's Python (issue 22). The same
        answer, key for key: tests/api/test_meeting_representation.py compares the two."""
        course, teacher, shown = meeting.course, meeting.teacher, self.Meta.fields
        row = {
            "id": meeting.pk,
            "title": meeting.title,
            "course": {"id": course.pk, "title": course.title},
            "teacher": {"id": teacher.pk, "display_name": teacher.display_name, "time_zone": teacher.time_zone},
            "state": meeting.state,
            "start_time": self.get_start_time(meeting),
            "end_time": self.get_end_time(meeting),
            "local": self.get_local(meeting),
            "capacity": meeting.capacity,
            "seats_taken": meeting.seats_taken,
            "seats_left": meeting.seats_left,
            "cancellation_cutoff": self.get_cancellation_cutoff(meeting),
            "policy": meeting.policy_id,
            "series": meeting.series_id,
            "original_local_start": meeting.original_local_start,
            "series_note": meeting.series_note,
        }
        if "my_booking" in shown:  # (not inside a booking: BookedMeetingSerializer)
            row["my_booking"] = self.get_my_booking(meeting)
        return {name: row[name] for name in shown}  # the declared fields, in their order


# --- input ------------------------------------------------------------------------------------------------------------


# Far enough for any class; keeps offset arithmetic away from datetime's year 1 and 9999 limits.
MIN_YEAR, MAX_YEAR = 2000, 2999


def read_time(value: str, *, field: str) -> dt.datetime:
    """One time from a request, as given: aware when it carries an offset, naive (a wall-clock time) otherwise."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidTime(
            _("%(field)s is not an ISO 8601 date and time (e.g. 2026-07-01T20:00:00+07:00)") % {"field": field},
            field=field,
        ) from exc
    if "T" not in value and " " not in value.strip():
        raise InvalidTime(_("%(field)s needs a time of day, not only a date") % {"field": field}, field=field)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InvalidTime(
            _("%(field)s must be between the years %(min)s and %(max)s")
            % {"field": field, "min": MIN_YEAR, "max": MAX_YEAR},
            field=field,
        )
    return parsed


def to_utc(parsed: dt.datetime, *, field: str, tz_name: str | None) -> dt.datetime:
    """A time read by :func:`read_time` in UTC: with its offset (no zone given) or as a wall time in ``tz_name``
    (refused when the clocks skip it or show it twice)."""
    if tz_name:
        return local_to_utc(parsed, tz_name, field=field)
    return require_aware(parsed, field=field)


def parse_time(value: str, *, field: str, tz_name: str | None) -> dt.datetime:
    """One time from a request: with an offset (no zone given) or a wall time in ``tz_name``. Returns UTC."""
    return to_utc(read_time(value, field=field), field=field, tz_name=tz_name)


class TimeText(StrictCharField):
    """A time as text, parsed by :func:`parse_time` once the zone is known (DRF's DateTimeField would silently read a
    naive time as UTC)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)


TIME_HELP = (
    "ISO 8601 with an offset (2026-07-01T20:00:00+07:00, 2026-07-01T13:00:00Z), or a wall-clock time without an "
    "offset (2026-07-01T20:00) together with time_zone."
)


class MeetingEditSerializer(serializers.Serializer):
    """Edit (the meeting's teacher, until it opens): any of these; times as in the module docstring."""

    title = StrictCharField(max_length=200, required=False, help_text="Defaults to the course title.")
    start_time = TimeText(required=False, help_text=TIME_HELP)
    end_time = TimeText(required=False, help_text=TIME_HELP)
    time_zone = TimeZoneField(
        required=False,
        help_text="IANA zone of start_time and end_time when they are wall-clock times; leave out when they carry "
        "an offset.",
    )
    capacity = StrictIntegerField(
        min_value=1, max_value=10_000, required=False, help_text="Seats; defaults to the course capacity."
    )

    def validate(self, data):
        tz_name = data.get("time_zone")
        given = {field: read_time(data[field], field=field) for field in ("start_time", "end_time") if field in data}
        for field, parsed in given.items():
            data[field] = to_utc(parsed, field=field, tz_name=tz_name)
        if tz_name and len(given) == 2:
            # Two wall times: their real length must be what the clock says (no clock change in between).
            check_wall_interval(given["start_time"], given["end_time"], tz_name)
        if tz_name and not ({"start_time", "end_time"} & set(data)):
            raise serializers.ValidationError({"time_zone": ["give start_time or end_time with time_zone"]})
        capacity = data.get("capacity")
        if self.instance is not None and capacity is not None and capacity < self.instance.seats_taken:
            raise serializers.ValidationError({"capacity": [f"{self.instance.seats_taken} seats are already booked"]})
        return data


class MeetingCreateSerializer(MeetingEditSerializer):
    """Schedule (teachers; staff for any teacher). ``end_time`` defaults to start + the course's default duration."""

    course = StrictPrimaryKeyRelatedField(queryset=Course.objects.all(), help_text="Course id.")
    teacher = StrictPrimaryKeyRelatedField(
        queryset=Teacher.objects.all(),
        required=False,
        help_text="Staff only: the teacher you schedule for (their id). A teacher leaves it out or gives their own.",
    )
    start_time = TimeText(help_text=TIME_HELP)
    end_time = TimeText(required=False, help_text=TIME_HELP + " Defaults to start + the course's default duration.")

    def validate(self, data):
        data = super().validate(data)
        if "end_time" not in data:
            data["end_time"] = data["start_time"] + dt.timedelta(minutes=data["course"].default_duration_minutes)
        return data


class CancelSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, help_text="Told to the booked students.")


class TransitionSerializer(serializers.Serializer):
    reason = StrictCharField(
        max_length=500, required=False, allow_blank=True, help_text="Kept in the meeting's history."
    )


class TransitionResultSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="False: it was already in that state (nothing happened).")
    message = serializers.CharField()
    meeting = MeetingSerializer()


class JoinSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["teacher", "student"])
    url = serializers.URLField(help_text="Open this to enter the room.")
    token = serializers.CharField(allow_blank=True, help_text="Provider token when the room needs one (LiveKit).")
    not_before = serializers.DateTimeField(allow_null=True, help_text="UTC: the credentials work from here…")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="…until here (UTC).")


class RecordingSerializer(serializers.Serializer):
    """One recording of a class as its viewer sees it; ``play_url`` (ready ones only) is signed for the caller and
    works until ``play_url_expires_at`` (RECORDING_PLAY_URL_MINUTES)."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["video", "audio", "chat"])
    state = serializers.ChoiceField(choices=["expected", "processing", "ready", "failed", "none", "deleted"])
    file_type = serializers.CharField(allow_blank=True)
    size_bytes = serializers.IntegerField(allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    ready_at = serializers.DateTimeField(allow_null=True, help_text="UTC")
    retention_until = serializers.DateTimeField(allow_null=True, help_text="UTC: deleted then")
    reason = serializers.CharField(allow_blank=True, help_text="Why there is none, or why it failed.")
    play_url = serializers.URLField(allow_null=True)
    play_url_expires_at = serializers.DateTimeField(allow_null=True, help_text="UTC")
