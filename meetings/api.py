"""API: meetings (list, create, edit, cancel, join) and staff's manual open/close. Thin: every change is a call to
``meetings.lifecycle``, every join decision is ``meetings.access``.

Who sees what: staff every meeting; a teacher their own; a student the meetings they may book (not over, still
joinable; a full one stays visible with no seats left) and the ones they have booked. Anything else is a 404, so a
meeting's existence does not leak. Acting on a visible meeting that is not yours is a 403.
"""

from __future__ import annotations

from django.db import connection, models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.models import Booking
from bookings.transitions import bookable
from classroom.idempotency import HEADER, idempotent
from classroom.models import Course, Teacher
from classroom.serializers import student_of, teacher_of
from config.api import error_response, example
from core.i18n import Reason
from core.rows import Columns, plannable, prepared_cursor, split
from core.statements import Slot, compiled, first_row
from meetings import access, lifecycle
from meetings import recordings as recording_rules
from meetings.models import Meeting, Recording
from meetings.serializers import (
    CancelSerializer,
    JoinSerializer,
    MeetingCreateSerializer,
    MeetingEditSerializer,
    MeetingSerializer,
    RecordingSerializer,
    TransitionResultSerializer,
    TransitionSerializer,
    parse_time,
)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): repeating the request with the same key replays the first answer "
    "instead of acting twice (header `Idempotent-Replayed: true`). The same key with a different body: 422. "
    "Keys are kept for IDEMPOTENCY_KEY_TTL_HOURS (24 h).",
    pattern=r"^[\x21-\x7e]{1,255}$",
)


# The values the list's and the join's conditions read (core.statements): compiled once per kind of caller.
NOW = Slot("now", models.DateTimeField())
TEACHER = Slot("teacher", models.BigIntegerField())
STUDENT = Slot("student", models.BigIntegerField())
PAGE_SIZE, OFFSET = Slot("page size", models.BigIntegerField()), Slot("offset", models.BigIntegerField())


def _booked_by(student) -> Q:
    return Q(pk__in=Booking.objects.filter(student=student).values("meeting_id"))


# Built once: a queryset in a condition is equal only to itself.
BOOKED_BY_STUDENT = _booked_by(STUDENT)


def visible_parts(user, now, *, slots: bool = False) -> list[Q]:
    """Who sees which meetings, as the parts whose union one user sees: staff all; a teacher their own; a student
    those they may book and those they have booked (any status). Nobody else: none.

    With ``slots``, the conditions read the user's records and ``now`` from the slots :data:`TEACHER`,
    :data:`STUDENT` and :data:`NOW` (:func:`visible_values` binds them), so that every caller of one kind has the
    same conditions, compiled once (:class:`VisibleUnion`)."""
    if user.is_staff:
        return [Q()]
    parts = []
    teacher = teacher_of(user)
    if teacher is not None:
        parts.append(Q(teacher=TEACHER if slots else teacher))
    student = student_of(user)
    if student is not None:
        booked = BOOKED_BY_STUDENT if slots else _booked_by(student)
        parts += [bookable(now, at=NOW if slots else None), booked]
    return parts


def visible_values(user, now) -> dict:
    """What the slots of ``visible_parts(user, now, slots=True)`` stand for."""
    teacher, student = teacher_of(user), student_of(user)
    return {
        NOW.name: now,
        TEACHER.name: None if teacher is None else teacher.pk,
        STUDENT.name: None if student is None else student.pk,
    }


LIST_ORDER = ("start_time", "id")


def visible(user, now, *, slots: bool = False) -> Q:
    """The condition of the meetings ``user`` may see: the union of :func:`visible_parts` (``slots``: theirs)."""
    if user.is_staff:
        return Q()
    condition = Q(pk__in=[])
    for part in visible_parts(user, now, slots=slots):
        condition |= part
    return condition


def visible_meetings(user, now):
    """The meetings ``user`` may see, with what the API shows of each (a student's own seat: MeetingSerializer; a
    list's page: :class:`VisibleUnion`)."""
    return Meeting.objects.select_related("teacher", "course").order_by(*LIST_ORDER).filter(visible(user, now))


MEETING_ID = Slot("meeting", models.BigIntegerField())
EVERY_MEETING_COLUMN = Columns(Meeting, {field.attname for field in Meeting._meta.concrete_fields})


def visible_meeting(user, now, pk: str) -> Meeting:
    """Meeting ``pk`` (the URL's), every column of it, if ``user`` may see it; else NotFound, as for one that does
    not exist. The join API's lookup, on every click of a peak minute: :func:`visible` with slots, compiled once
    per kind of caller (core.statements) where the ORM compiled it for each request."""
    if not (pk.isascii() and pk.isdigit() and 0 < int(pk) <= MAX_ID):
        raise NotFound()
    condition = visible(user, now, slots=True)
    row = first_row(
        ("visible meeting", condition),
        lambda: Meeting.objects.filter(condition, pk=MEETING_ID).values_list(*EVERY_MEETING_COLUMN.names),
        {**visible_values(user, now), MEETING_ID.name: int(pk)},
    )
    if row is None:
        raise NotFound()
    return EVERY_MEETING_COLUMN.instance(row)


# What a list row shows (MeetingSerializer, and the policy its windows come from): the rest of the row (rooms,
# attendance evidence, errors) is neither read from the database nor decoded.
LIST_MEETING_COLUMNS = Columns(
    Meeting,
    {"id", "title", "state", "start_time", "end_time", "capacity", "seats_taken", "policy_id"}
    | {"course_id", "teacher_id", "series_id", "original_local_start", "series_note"},
)
LIST_COURSE_COLUMNS = Columns(Course, {"id", "title"})
LIST_TEACHER_COLUMNS = Columns(Teacher, {"id", "display_name", "time_zone"})
LIST_COLUMNS = [LIST_MEETING_COLUMNS, LIST_COURSE_COLUMNS, LIST_TEACHER_COLUMNS]


class VisibleUnion:
    """A list of visible meetings as Django's Paginator reads it (``count()``, then one slice), in one query.

    One OR of the parts over the meetings table costs every class a student may book plus their whole history, on
    every request; each part alone is cheap (``meeting_bookable``, the teacher's index, a student's bookings). So the
    parts (:func:`visible_parts` with the filters) stay the ORM's, and one statement reads:
      * the page the request asks for (``window``): the UNION of each part's first rows up to the page's end, in
        list order, cut (a row among the first N of the union is among the first N of its own part);
      * the count: each part's rows that no earlier part has, counted on the part's own index, and added up (a
        UNION of every visible row to count it cost three times as much on PostgreSQL);
      * what the serializer shows of each row: its course and teacher and, with ``seat`` (a student's list), their
        own newest seat (``my_booking``).
    The ORM would read those as four queries (count, the page's ids, its rows, the seats); compiling them was most
    of a list request's time (issue 22). So the parts come with core.statements slots for the caller, ``now`` and
    the filters' values, and the statement is compiled once per process for each shape (the kind of caller, the
    policy versions in force, the filters given, the page's end); each request binds its ``values``. A page past the
    end (no row to carry the count) counts alone.
    tests/api/test_meeting_representation.py holds the pages to the ORM's."""

    def __init__(self, parts: list[Q], filters: Q, values: dict, *, seat: bool = False, window: slice | None = None):
        self.parts, self.filters, self.values = parts, filters, values
        self.seat = seat
        self.window = window
        self.read: tuple[slice, int, list[Meeting]] | None = None

    def _rows(self) -> list:
        """Each part's rows, filtered once for the count and the page."""
        return [Meeting.objects.filter(part, self.filters).order_by() for part in self.parts]

    def _count_sql(self, rows: list) -> tuple[str, list]:
        terms, params = [], []
        for n, part in enumerate(rows):
            for earlier in self.parts[:n]:
                part = part.exclude(earlier)
            sql, more = part.values("pk").query.sql_with_params()
            terms.append(f"(SELECT COUNT(*) FROM ({sql}) k{n})")
            params += more
        return " + ".join(terms), params

    def _keys_sql(self, rows: list, stop: int) -> tuple[str, tuple]:
        keys = [part.values_list(*LIST_ORDER) for part in rows]
        # SQLite cannot order or cut inside a UNION: there the parts are merged whole (the development database).
        if len(keys) == 1 or connection.features.supports_slicing_ordering_in_compound:
            keys = [part.order_by(*LIST_ORDER)[:stop] for part in keys]
        else:
            keys = [part.order_by() for part in keys]
        return (keys[0].union(*keys[1:]) if len(keys) > 1 else keys[0]).query.sql_with_params()

    def _compile_count(self) -> tuple[str, list]:
        count, params = self._count_sql(self._rows())
        return f"SELECT {count}", params

    def count(self) -> int:
        if not self.parts:
            return 0
        if self.window is not None:
            _, total, rows = self._page(self.window)
            if rows:
                return total
        statement = compiled(("list count", tuple(self.parts), self.filters), self._compile_count)
        with prepared_cursor() as cursor:
            cursor.execute(*plannable(statement.sql, statement.bind(self.values)))
            return cursor.fetchone()[0]

    def __getitem__(self, window: slice) -> list[Meeting]:
        if not self.parts or window.stop <= window.start:
            return []  # (the empty first page of an empty list)
        return self._page(window)[2][: window.stop - window.start]

    def _compile_page(self, stop: int) -> tuple[str, list]:
        rows = self._rows()
        count, count_params = self._count_sql(rows)
        keys, keys_params = self._keys_sql(rows, stop)
        seat, seat_join = "NULL, NULL", ""
        if self.seat:
            # The student's newest seat, found once per row and then read by its id.
            bookings = connection.ops.quote_name(Booking._meta.db_table)
            seat = "sb.id, sb.status"
            seat_join = (
                f" LEFT JOIN {bookings} sb ON sb.id = (SELECT b.id FROM {bookings} b WHERE b.meeting_id = m.id "
                "AND b.student_id = %s ORDER BY b.created_at DESC, b.id DESC LIMIT 1)"
            )
        sql = (
            f"SELECT {LIST_MEETING_COLUMNS.sql('m')}, {LIST_COURSE_COLUMNS.sql('c')}, {LIST_TEACHER_COLUMNS.sql('t')}, "
            f"v.total, {seat} FROM (SELECT u.start_time, u.id, {count} AS total FROM ({keys}) u "
            "ORDER BY u.start_time, u.id LIMIT %s OFFSET %s) v "
            f"JOIN {LIST_MEETING_COLUMNS.table} m ON m.id = v.id JOIN {LIST_COURSE_COLUMNS.table} c "
            f"ON c.id = m.course_id JOIN {LIST_TEACHER_COLUMNS.table} t ON t.id = m.teacher_id{seat_join} "
            "ORDER BY v.start_time, v.id"
        )
        seat_params = [STUDENT] if self.seat else []
        return sql, [*count_params, *keys_params, PAGE_SIZE, OFFSET, *seat_params]

    def _page(self, window: slice) -> tuple[slice, int, list[Meeting]]:
        # The paginator asks for the page it counted, cut at the last row on the last page: the same read.
        if self.read is not None and self.read[0].start == window.start and window.stop <= self.read[0].stop:
            return self.read
        shape = ("list page", tuple(self.parts), self.filters, self.seat, window.stop)
        statement = compiled(shape, lambda: self._compile_page(window.stop))
        values = {**self.values, PAGE_SIZE.name: window.stop - window.start, OFFSET.name: window.start}
        rows, total, made = [], 0, {}
        with prepared_cursor() as cursor:
            # Prepared, its states written in: one plan per connection for each kind of caller and filter.
            cursor.execute(*plannable(statement.sql, statement.bind(values)))
            for row in cursor.fetchall():
                (shown, shown.course, shown.teacher), (total, seat_id, seat_status) = split(row, LIST_COLUMNS, made)
                shown.my_booking = None if seat_id is None else {"id": seat_id, "status": seat_status}
                rows.append(shown)
        self.read = (window, total, rows)
        return self.read


MAX_ID = 2**63 - 1


class MeetingFilterSerializer(serializers.Serializer):
    starts_after = serializers.CharField(
        required=False, max_length=64, help_text="Only meetings starting at or after this time (ISO 8601 with offset)."
    )
    starts_before = serializers.CharField(
        required=False, max_length=64, help_text="Only meetings starting before this time (ISO 8601 with offset)."
    )
    state = serializers.ChoiceField(choices=Meeting.State.choices, required=False)
    # Bounded like the ids themselves (64-bit): a larger number cannot match and SQLite cannot even bind it.
    teacher = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Teacher id.")
    course = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Course id.")
    series = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Weekly class id: its occurrences."
    )

    def validate(self, data):
        for field in ("starts_after", "starts_before"):
            if field in data:
                data[field] = parse_time(data[field], field=field, tz_name=None)
        return data


# The list's filters: query parameter -> (lookup, the slot its value is bound to in VisibleUnion's statement).
LIST_FILTERS = {
    "starts_after": ("start_time__gte", Slot("filter starts_after", models.DateTimeField())),
    "starts_before": ("start_time__lt", Slot("filter starts_before", models.DateTimeField())),
    "state": ("state", Slot("filter state", models.CharField())),
    "teacher": ("teacher", Slot("filter teacher", models.BigIntegerField())),
    "course": ("course", Slot("filter course", models.BigIntegerField())),
    "series": ("series", Slot("filter series", models.BigIntegerField())),
}


MEETING_EXAMPLE = {
    "id": 7,
    "title": "IELTS Practice",
    "course": {"id": 1, "title": "IELTS Practice"},
    "teacher": {"id": 3, "display_name": "Charlie", "time_zone": "America/New_York"},
    "state": "scheduled",
    "start_time": "2026-07-01T13:00:00Z",
    "end_time": "2026-07-01T14:00:00Z",
    "local": {
        "time_zone": "Asia/Ho_Chi_Minh",
        "start_time": "2026-07-01T20:00:00+07:00",
        "end_time": "2026-07-01T21:00:00+07:00",
    },
    "capacity": 8,
    "seats_taken": 3,
    "seats_left": 5,
    "cancellation_cutoff": "2026-07-01T11:00:00Z",
    "policy": 3,
    "my_booking": {"id": 12, "status": "confirmed"},
    "series": None,
    "original_local_start": "",
    "series_note": "",
}


def meeting_example(name="a meeting", **changes) -> OpenApiExample:
    return OpenApiExample(name, value={**MEETING_EXAMPLE, **changes}, response_only=True)


def transition_examples(reason: str, name: str, from_state: str, to_state: str) -> list[OpenApiExample]:
    """A transition endpoint's examples: the request with its reason, and the answer (a TransitionResult) of meeting 7
    moving from ``from_state`` to ``to_state``."""
    return [
        OpenApiExample("why", value={"reason": reason}, request_only=True),
        OpenApiExample(
            name,
            value={
                "changed": True,
                "message": f"meeting 7: {from_state} → {to_state}",
                "meeting": {**MEETING_EXAMPLE, "state": to_state, "my_booking": None},
            },
            response_only=True,
        ),
    ]


DST_GAP = "start_time 2026-03-08 02:30 does not exist in America/New_York (the clocks skip it for daylight saving)"
NOT_YOURS = example("not your meeting", "permission_denied", "Only the meeting's teacher may change it.")
TIME_ERRORS = error_response(
    400,
    example(
        "naive time",
        "invalid_time",
        "start_time has no time zone offset; give an ISO 8601 time with an offset or a zone",
        {"start_time": ["start_time has no time zone offset; give an ISO 8601 time with an offset or a zone"]},
    ),
    example("daylight-saving gap", "invalid_time", DST_GAP, {"start_time": [DST_GAP]}),
    example(
        "end before start",
        "invalid_time",
        "end_time must be after start_time",
        {"end_time": ["end_time must be after start_time"]},
    ),
    example("in the past", "invalid_time", "start_time is in the past", {"start_time": ["start_time is in the past"]}),
    example(
        "too long",
        "invalid_time",
        "a class may last at most 240 minutes",
        {"end_time": ["a class may last at most 240 minutes"]},
    ),
    description="invalid_time (the field is named) or validation_error",
)
WRITE_EXAMPLES = [
    OpenApiExample(
        "with an offset",
        value={"course": 1, "title": "IELTS Practice", "start_time": "2026-07-01T20:00:00+07:00", "capacity": 8},
        request_only=True,
    ),
    OpenApiExample(
        "wall time and zone",
        value={
            "course": 1,
            "start_time": "2026-07-01T20:00",
            "end_time": "2026-07-01T21:30",
            "time_zone": "Asia/Ho_Chi_Minh",
        },
        request_only=True,
    ),
]


@extend_schema_view(
    list=extend_schema(
        tags=["meetings"],
        summary="Meetings you may see",
        description="Staff: all. Teachers: their own. Students: the ones they may book and the ones they booked. "
        "Ordered by start time, paginated (`page`, `page_size` up to 100).",
        parameters=[MeetingFilterSerializer],
        examples=[meeting_example("seen by a student in Ho Chi Minh City")],
    ),
    retrieve=extend_schema(
        tags=["meetings"], summary="One meeting", examples=[meeting_example("seen by a student in Ho Chi Minh City")]
    ),
    create=extend_schema(
        tags=["meetings"],
        summary="Schedule a meeting (teachers; staff for any teacher)",
        description="A teacher schedules their own class. Staff schedule for any teacher by giving `teacher` (the "
        "teacher's id); a teacher who gives another teacher's id gets 403.",
        request=MeetingCreateSerializer,
        responses={
            201: MeetingSerializer,
            400: TIME_ERRORS,
            403: error_response(
                403,
                example("not a teacher", "permission_denied", "Only teachers schedule meetings."),
                example("another teacher", "permission_denied", "Only staff schedule a meeting for another teacher."),
            ),
        },
        examples=[*WRITE_EXAMPLES, meeting_example("scheduled", seats_taken=0, seats_left=8, my_booking=None)],
    ),
    partial_update=extend_schema(
        tags=["meetings"],
        summary="Edit your meeting until it opens (teachers)",
        description="Any of title, capacity, start_time, end_time (time_zone for wall-clock times). A meeting that "
        "opened, closed or was cancelled cannot be edited (409).",
        request=MeetingEditSerializer,
        responses={
            200: MeetingSerializer,
            400: TIME_ERRORS,
            403: error_response(403, NOT_YOURS),
            409: error_response(
                409,
                example(
                    "already open", "illegal_transition", "meeting 7 is open; only a scheduled meeting can be edited"
                ),
            ),
        },
        examples=[
            OpenApiExample(
                "move it", value={"start_time": "2026-07-02T20:00", "time_zone": "Asia/Taipei"}, request_only=True
            ),
            meeting_example("moved", my_booking=None),
        ],
    ),
)
class MeetingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = MeetingSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def _filters(self, *, slots: bool = False) -> tuple[Q, dict]:
        """The list's query parameters, checked (400 naming a bad one), as one condition; with ``slots``, the
        condition reads their values from core.statements slots, given with it (VisibleUnion)."""
        # A plain dict, not the QueryDict: DRF reads an empty query value ("?state=") as "not given"; we refuse it.
        given = self.request.query_params.dict()
        filters = {}
        if given.keys() & LIST_FILTERS.keys():  # (a list polled without filters does not build the serializer)
            params = MeetingFilterSerializer(data=given)
            params.is_valid(raise_exception=True)
            filters = params.validated_data
        condition, values = Q(), {}
        for name, (lookup, slot) in LIST_FILTERS.items():
            if name in filters:
                condition &= Q(**{lookup: slot if slots else filters[name]})
                values[slot.name] = filters[name]
        return condition, values

    def get_queryset(self):
        meetings = visible_meetings(self.request.user, timezone.now())
        return meetings.filter(self._filters()[0]) if self.action == "list" else meetings

    def list(self, request, *args, **kwargs):
        """ListModelMixin's list, its page read with its count in one query (VisibleUnion)."""
        now, user = timezone.now(), request.user
        window = self.paginator.requested_window(request)
        filters, values = self._filters(slots=True)
        meetings = VisibleUnion(
            visible_parts(user, now, slots=True),
            filters,
            {**visible_values(user, now), **values},
            seat=student_of(user) is not None,
            window=window,
        )
        page = self.paginate_queryset(meetings)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _own(self, meeting: Meeting):
        teacher = teacher_of(self.request.user)
        if teacher is None or meeting.teacher_id != teacher.pk:
            raise PermissionDenied(_("Only the meeting's teacher may change it."))
        return teacher

    def create(self, request):
        user = request.user
        own = teacher_of(user)
        if not user.is_staff:
            if own is None:
                raise PermissionDenied(_("Only teachers schedule meetings."))
            # (The body may be any JSON; the serializer refuses one that is not an object.)
            if isinstance(request.data, dict) and request.data.get("teacher", own.pk) != own.pk:
                raise PermissionDenied(_("Only staff schedule a meeting for another teacher."))
        write = MeetingCreateSerializer(data=request.data)
        write.is_valid(raise_exception=True)
        data = write.validated_data
        # Staff schedule for any teacher; the history names the staff member as the actor.
        teacher = data.get("teacher") or own
        if teacher is None:
            raise serializers.ValidationError({"teacher": [_("Name the teacher you schedule for (their id).")]})
        meeting = lifecycle.schedule_meeting(
            teacher=teacher,
            course=data["course"],
            title=data.get("title", ""),
            start_time=data["start_time"],
            end_time=data["end_time"],
            capacity=data.get("capacity"),
            now=timezone.now(),
            actor=user,
        )
        meeting = Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)
        return Response(self.get_serializer(meeting).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        meeting = self.get_object()
        self._own(meeting)
        write = MeetingEditSerializer(meeting, data=request.data)
        write.is_valid(raise_exception=True)
        data = write.validated_data
        lifecycle.edit_meeting(
            meeting,
            now=timezone.now(),
            actor=request.user,
            start_time=data.get("start_time"),
            end_time=data.get("end_time"),
            title=data.get("title"),
            capacity=data.get("capacity"),
        )
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        tags=["meetings"],
        summary="Cancel your meeting (teachers)",
        description="Every confirmed booking is refunded and everyone is told, with the reason. Cancelling a "
        "cancelled meeting changes nothing (`changed: false`); a closed one cannot be cancelled (409).",
        request=CancelSerializer,
        examples=transition_examples("I am ill; sorry!", "cancelled", "scheduled", "cancelled"),
        responses={
            200: TransitionResultSerializer,
            403: error_response(403, NOT_YOURS),
            409: error_response(
                409, example("closed", "illegal_transition", "meeting 7 is closed; it cannot become cancelled")
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        meeting = self.get_object()
        teacher = self._own(meeting)
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # A typed reason is told as typed; ours is translated into each student's language (core/i18n.py).
        reason = body.validated_data.get("reason") or Reason(
            gettext_noop("cancelled by %(name)s"), name=teacher.display_name
        )
        outcome = lifecycle.cancel_meeting(meeting, now=timezone.now(), actor=request.user, reason=reason)
        return Response(result(outcome, self.get_object(), self.get_serializer_context()))

    @extend_schema(
        tags=["meetings"],
        summary="Join credentials (in your window only)",
        description="The meeting's teacher from start − 10 min, a student with a confirmed seat from start; both "
        "until the room closes (end + 5 min). A student's first entry must be by start + 10 min (the late-join "
        "grace); a student who has been in the room may rejoin until it closes, so their credentials are valid "
        "until then. Decided at this second, whatever the sweeps did. Outside the window: 403 `join_refused` with "
        "the reason and, when it is still ahead, `opens_at` (UTC) and the local time in the message; a class that "
        "has ended or was cancelled says so to everyone who took part in it. Inside the window but before the room "
        "exists: 409 `room_not_ready` with Retry-After.",
        request=None,
        examples=[
            OpenApiExample(
                "student, inside the window",
                value={
                    "role": "student",
                    "url": "https://classroom.example/rooms/class-7-1a2b3c4d/?t=eyJtIjo3fQ",
                    "token": "eyJtIjo3fQ",
                    "not_before": "2026-07-01T13:00:00Z",
                    "expires_at": "2026-07-01T14:05:00Z",
                },
                response_only=True,
            )
        ],
        responses={
            200: JoinSerializer,
            403: error_response(
                403,
                example(
                    "too early",
                    "join_refused",
                    "joining opens at 19:50 Asia/Ho_Chi_Minh (2026-07-01)",
                    opens_at="2026-07-01T12:50:00Z",
                ),
                example(
                    "grace over",
                    "join_refused",
                    "joining closed at 20:10 Asia/Ho_Chi_Minh (the late-join grace period is over)",
                ),
                example("ended", "join_refused", "this class has ended"),
                example("cancelled", "join_refused", "this class was cancelled"),
                example(
                    "no seat",
                    "not_a_participant",
                    "Only the meeting's teacher and students with a confirmed seat can join.",
                ),
            ),
            409: error_response(
                409,
                example("room not ready", "room_not_ready", "the room is not ready yet; try again in a minute"),
                description="room_not_ready: inside your window, but the room is still being made; retry after "
                "Retry-After seconds",
            ),
        },
    )
    @action(detail=True, methods=["get"])
    def join(self, request, pk=None):
        now = timezone.now()
        meeting = visible_meeting(request.user, now, pk)
        self.check_object_permissions(request, meeting)
        role, credentials = access.join(
            meeting, teacher=teacher_of(request.user), student=student_of(request.user), now=now
        )
        return Response(
            JoinSerializer(
                {
                    "role": role,
                    "url": credentials.url,
                    "token": credentials.token,
                    "not_before": credentials.not_before,
                    "expires_at": credentials.expires_at,
                }
            ).data
        )

    @extend_schema(
        tags=["meetings"],
        summary="Recordings of a class (its teacher, its booked students, staff)",
        description="Each file of the class's recording (video, audio, chat) with its state; a ready one has a "
        "`play_url` signed for you that works for RECORDING_PLAY_URL_MINUTES (ask again for a new one). The person "
        "is checked again when the link is opened. Someone who may not play the class's recordings gets 404.",
        request=None,
        examples=[
            OpenApiExample(
                "a ready video",
                value=[
                    {
                        "id": 4,
                        "kind": "video",
                        "state": "ready",
                        "file_type": "MP4",
                        "size_bytes": 48213377,
                        "duration_seconds": 3540,
                        "ready_at": "2026-07-01T15:40:00Z",
                        "retention_until": "2026-07-31T15:40:00Z",
                        "reason": "",
                        "play_url": "https://classroom.example/recordings/play/eyJyIjo0LCJ1Ijo5fQ:1wew:sig/",
                        "play_url_expires_at": "2026-07-01T16:10:00Z",
                    }
                ],
                response_only=True,
            )
        ],
        responses={200: RecordingSerializer(many=True), 404: error_response(404)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def recordings(self, request, pk=None):
        meeting = self.get_object()
        if not recording_rules.entitled(meeting, request.user):
            raise NotFound()
        now = timezone.now()
        rows = [recording_row(r, request.user, now) for r in meeting.recordings.order_by("pk")]
        return Response(RecordingSerializer(rows, many=True).data)


def recording_row(recording: Recording, user, now) -> dict:
    play_url = expires = None
    if recording.state == Recording.State.READY and recording.file.name:
        play_url, expires = recording_rules.play_url(recording, user, now=now)
    failed = recording.state in (Recording.State.FAILED, Recording.State.NONE)
    return {
        "id": recording.pk,
        "kind": recording.kind,
        "state": recording.state,
        "file_type": recording.file_type,
        "size_bytes": recording.size_bytes,
        "duration_seconds": recording.duration_seconds,
        "ready_at": recording.ready_at,
        "retention_until": recording.retention_until,
        "reason": _(recording.last_error) if failed else "",
        "play_url": play_url,
        "play_url_expires_at": expires,
    }


def result(outcome, meeting: Meeting, context) -> dict:
    return {
        "changed": outcome.changed,
        "message": outcome.message,
        "meeting": MeetingSerializer(meeting, context=context).data,
    }


class MayRunMeetings(IsAdminUser):
    """Staff holding ``meetings.change_meeting``: what the admin's "Open now" and "Close now" actions need."""

    message = _("Opening or closing a class needs the permission to change meetings.")

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.has_perm("meetings.change_meeting")


class AdminMeetingTransitionView(APIView):
    """Staff open or close a meeting now: the same transitions as the admin actions and the management commands."""

    permission_classes = [MayRunMeetings]
    transition = None  # lifecycle.open_meeting or lifecycle.close_meeting

    @idempotent
    def post(self, request, pk: int):
        meeting = get_object_or_404(Meeting.objects.all(), pk=pk)
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = type(self).transition(
            meeting, now=timezone.now(), actor=request.user, reason=body.validated_data.get("reason", "")
        )
        meeting = Meeting.objects.select_related("teacher", "course").get(pk=pk)
        return Response(result(outcome, meeting, {"request": request, "view": self}))


def _admin_schema(verb: str, conflict: str):
    moves = {"open": ("scheduled", "open"), "close": ("open", "closed")}
    return extend_schema(
        tags=["admin"],
        summary=f"{verb.title()} a meeting now (staff)",
        description=f"The same transition as the admin's '{verb.title()} now' action, recorded as manual with your "
        f"name. Repeating it changes nothing (`changed: false`).",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=TransitionSerializer,
        examples=transition_examples("the teacher asked on the phone", "done", *moves[verb]),
        responses={
            200: TransitionResultSerializer,
            403: error_response(
                403, example("not staff", "permission_denied", "You do not have permission to perform this action.")
            ),
            409: error_response(409, example("illegal", "illegal_transition", conflict)),
            422: error_response(422),
        },
    )


@_admin_schema("open", "meeting 7 is cancelled; it cannot become open")
class AdminOpenMeetingView(AdminMeetingTransitionView):
    transition = staticmethod(lifecycle.open_meeting)


@_admin_schema("close", "meeting 7 is scheduled; it cannot become closed")
class AdminCloseMeetingView(AdminMeetingTransitionView):
    transition = staticmethod(lifecycle.close_meeting)
