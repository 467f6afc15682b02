"""API: weekly classes (``/api/v1/series/``) and the calendar feed token (``POST /api/v1/me/calendar-token/``).
Thin: every change is one call to ``meetings.series`` or ``meetings.calendar``.

Who: teachers create and edit their own series, staff any (naming the teacher); students see every series and
subscribe to one (a seat in every future occurrence). A series' occurrences are ordinary meetings:
``GET /api/v1/meetings/?series=<id>``.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from classroom.models import Course, Teacher
from classroom.serializers import (
    PersonSerializer,
    StrictCharField,
    StrictIntegerField,
    StrictPrimaryKeyRelatedField,
    student_of,
    teacher_of,
)
from config.api import error_response, example
from core.errors import NotFound
from meetings import calendar
from meetings import series as series_domain
from meetings.models import Series, SeriesSubscription

SCOPE_HELP = "this: one occurrence (give `occurrence`); following: it and every later one (splits the series); all."
OCCURRENCE_HELP = (
    "The occurrence's original local start in the series' zone (its RECURRENCE-ID), e.g. 2027-03-14T02:30."
)


class SeriesSerializer(serializers.ModelSerializer):
    teacher = PersonSerializer(read_only=True)
    course = serializers.IntegerField(source="course_id", read_only=True)
    next_occurrences = serializers.SerializerMethodField(
        help_text="The next few starts: UTC and in the series' zone (with the note on a shifted wall time)."
    )

    class Meta:
        model = Series
        fields = [
            "id",
            "title",
            "course",
            "teacher",
            "capacity",
            "local_start",
            "time_zone",
            "duration_minutes",
            "rrule",
            "exdates",
            "ends_before",
            "parent",
            "next_occurrences",
        ]

    def get_next_occurrences(self, obj) -> list[dict]:
        return [
            {
                "occurrence": row["key"],
                "utc": row["utc"].isoformat(),
                "local": row["teacher"].isoformat(),
                "note": row["note"],
            }
            for row in series_domain.preview(obj, now=timezone.now(), count=3)
        ]


class SeriesCreateSerializer(serializers.Serializer):
    course = StrictPrimaryKeyRelatedField(queryset=Course.objects.all(), help_text="Course id.")
    teacher = StrictPrimaryKeyRelatedField(
        queryset=Teacher.objects.all(), required=False, help_text="Staff only: whose series (teachers: their own)."
    )
    title = StrictCharField(max_length=200, required=False, help_text="Defaults to the course title.")
    local_start = StrictCharField(
        max_length=32, help_text="The first occurrence's wall-clock start, without an offset: 2027-03-01T02:30."
    )
    time_zone = StrictCharField(max_length=64, required=False, help_text="IANA zone; defaults to the teacher's.")
    duration_minutes = StrictIntegerField(min_value=1, max_value=24 * 60)
    rrule = StrictCharField(max_length=500, help_text="RFC 5545 RRULE: FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20.")
    exdates = serializers.ListField(
        child=StrictCharField(max_length=32), required=False, max_length=500, help_text="Wall-clock starts left out."
    )
    capacity = StrictIntegerField(min_value=1, max_value=10_000, required=False)


class SeriesEditSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=series_domain.SCOPES, help_text=SCOPE_HELP)
    occurrence = StrictCharField(max_length=32, required=False, help_text=OCCURRENCE_HELP)
    local_start = StrictCharField(
        max_length=32, required=False, help_text="scope this: the occurrence's new wall-clock start (no offset)."
    )
    local_time = serializers.TimeField(required=False, help_text="following/all: the new time of day, e.g. 18:00.")
    duration_minutes = StrictIntegerField(min_value=1, max_value=24 * 60, required=False)
    title = StrictCharField(max_length=200, required=False)


class SeriesCancelSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=series_domain.SCOPES, help_text=SCOPE_HELP)
    occurrence = StrictCharField(max_length=32, required=False, help_text=OCCURRENCE_HELP)
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, help_text="Told to the students.")


class EditResultSerializer(serializers.Serializer):
    series = SeriesSerializer()
    meetings = serializers.ListField(child=serializers.IntegerField(), help_text="The meetings changed.")


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    series = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="booked, full (skipped), skipped.")


class CalendarTokenSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Your secret calendar feed; the previous one stops working.")


SERIES_EXAMPLE = {
    "id": 4,
    "title": "IELTS Speaking",
    "course": 1,
    "teacher": {"id": 3, "display_name": "Charlie", "time_zone": "America/New_York"},
    "capacity": None,
    "local_start": "2027-03-07T02:30",
    "time_zone": "America/New_York",
    "duration_minutes": 60,
    "rrule": "FREQ=WEEKLY;BYDAY=SU;COUNT=10",
    "exdates": [],
    "ends_before": "",
    "parent": None,
    "next_occurrences": [
        {
            "occurrence": "2027-03-14T02:30",
            "utc": "2027-03-14T07:30:00+00:00",
            "local": "2027-03-14T03:30:00-04:00",
            "note": "02:30 does not exist on 2027-03-14 in America/New_York (the clocks skip it); moved forward by "
            "the gap to 03:30 EDT",
        }
    ],
}
SERIES_ERRORS = error_response(
    400,
    example(
        "bad rule",
        "invalid_series",
        "rrule is not a valid RFC 5545 RRULE: invalid frequency",
        {"rrule": ["rrule is not a valid RFC 5545 RRULE: invalid frequency"]},
    ),
    example(
        "unknown zone",
        "invalid_series",
        "Mars/Olympus is not an IANA time zone (for example Europe/London)",
        {"time_zone": ["Mars/Olympus is not an IANA time zone (for example Europe/London)"]},
    ),
    example(
        "offset given",
        "invalid_series",
        "local_start must be a wall-clock time without an offset (the zone is time_zone), e.g. 2027-03-01T19:30",
        {"local_start": ["local_start must be a wall-clock time without an offset"]},
    ),
    description="invalid_series or validation_error (the field is named)",
)
NOT_YOURS = example("not yours", "permission_denied", "Only the series' teacher or staff may change it.")


def series_example(name="a series", **changes):
    return OpenApiExample(name, value={**SERIES_EXAMPLE, **changes}, response_only=True)


@extend_schema_view(
    list=extend_schema(tags=["series"], summary="Weekly classes you may see", examples=[series_example()]),
    retrieve=extend_schema(tags=["series"], summary="One weekly class", examples=[series_example()]),
    create=extend_schema(
        tags=["series"],
        summary="Create a weekly class (teachers; staff for any teacher)",
        description="Occurrences are made as meetings SERIES_HORIZON_DAYS ahead (at once, then by the sweep). A wall "
        "time the clocks skip is shifted forward by the gap (with a note); one they show twice is the first. A rule "
        "with two classes a day or overlapping occurrences, or one overlapping the teacher's classes, is refused.",
        request=SeriesCreateSerializer,
        examples=[
            OpenApiExample(
                "weekly",
                value={
                    "course": 1,
                    "title": "IELTS Speaking",
                    "local_start": "2027-03-07T02:30",
                    "time_zone": "America/New_York",
                    "duration_minutes": 60,
                    "rrule": "FREQ=WEEKLY;BYDAY=SU;COUNT=10",
                    "exdates": ["2027-04-04T02:30"],
                },
                request_only=True,
            ),
            series_example(),
        ],
        responses={201: SeriesSerializer, 400: SERIES_ERRORS},
    ),
    partial_update=extend_schema(
        tags=["series"],
        summary="Edit a weekly class: this occurrence, this and following, or all",
        description="Keyed by the occurrence's original local start. Past and open occurrences never change; an "
        "occurrence edited on its own is left alone by later edits of all; nothing is duplicated and no booking is "
        "made. Students of a moved class are told.",
        request=SeriesEditSerializer,
        examples=[
            OpenApiExample(
                "move one",
                value={"scope": "this", "occurrence": "2027-03-21T02:30", "local_start": "2027-03-22T18:00"},
                request_only=True,
            ),
            OpenApiExample("later from now on", value={"scope": "all", "local_time": "19:00"}, request_only=True),
            OpenApiExample("edited", value={"series": SERIES_EXAMPLE, "meetings": [31, 32]}, response_only=True),
        ],
        responses={200: EditResultSerializer, 400: SERIES_ERRORS, 403: error_response(403, NOT_YOURS)},
    ),
)
class SeriesViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SeriesSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        series = Series.objects.select_related("teacher", "course").order_by("pk")
        user = self.request.user
        if user.is_staff or student_of(user) is not None:
            return series
        teacher = teacher_of(user)
        return series.filter(Q(teacher=teacher) if teacher is not None else Q(pk__in=[]))

    def _may_change(self, series: Series) -> None:
        teacher = teacher_of(self.request.user)
        if not self.request.user.is_staff and (teacher is None or series.teacher_id != teacher.pk):
            raise PermissionDenied(_("Only the series' teacher or staff may change it."))

    def create(self, request):
        write = SeriesCreateSerializer(data=request.data)
        write.is_valid(raise_exception=True)
        data = write.validated_data
        teacher = data.get("teacher") if request.user.is_staff else teacher_of(request.user)
        if teacher is None:
            raise PermissionDenied(_("Only teachers (or staff, naming the teacher) create weekly classes."))
        series = series_domain.create_series(
            teacher=teacher,
            course=data["course"],
            title=data.get("title", ""),
            local_start=data["local_start"],
            time_zone=data.get("time_zone", ""),
            duration_minutes=data["duration_minutes"],
            rrule=data["rrule"],
            exdates=data.get("exdates"),
            capacity=data.get("capacity"),
            now=timezone.now(),
            actor=request.user,
        )
        return Response(self.get_serializer(series).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        series = self.get_object()
        self._may_change(series)
        body = SeriesEditSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        change = series_domain.Change(
            local_start=series_domain.parse_local_start(data["local_start"]) if "local_start" in data else None,
            local_time=data.get("local_time"),
            duration_minutes=data.get("duration_minutes"),
            title=data.get("title", ""),
        )
        changed = series_domain.change_series(
            series,
            scope=data["scope"],
            occurrence=data.get("occurrence", ""),
            change=change,
            now=timezone.now(),
            actor=request.user,
        )
        series.refresh_from_db()
        return Response({"series": self.get_serializer(series).data, "meetings": [m.pk for m in changed]})

    @extend_schema(
        tags=["series"],
        summary="Cancel this occurrence, this and following, or all",
        description="Cancelled occurrences stay (cancelled, refunded, everyone told) and are never made again.",
        request=SeriesCancelSerializer,
        examples=[
            OpenApiExample(
                "one",
                value={"scope": "this", "occurrence": "2027-04-04T02:30", "reason": "Easter"},
                request_only=True,
            ),
            OpenApiExample("cancelled", value={"series": SERIES_EXAMPLE, "meetings": [35]}, response_only=True),
        ],
        responses={200: EditResultSerializer, 400: SERIES_ERRORS, 403: error_response(403, NOT_YOURS)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        series = self.get_object()
        self._may_change(series)
        body = SeriesCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        cancelled = series_domain.cancel_series(
            series,
            scope=data["scope"],
            occurrence=data.get("occurrence", ""),
            reason=data.get("reason", ""),
            now=timezone.now(),
            actor=request.user,
        )
        series.refresh_from_db()
        return Response({"series": self.get_serializer(series).data, "meetings": [m.pk for m in cancelled]})

    @extend_schema(
        tags=["series"],
        summary="Book every future occurrence (students)",
        description="A seat in every occurrence already made and in each one the sweep makes later. A full "
        "occurrence is skipped and you are told; the others are booked.",
        request=None,
        examples=[
            OpenApiExample(
                "subscribed", value={"id": 9, "series": 4, "counts": {"booked": 7, "full": 1}}, response_only=True
            )
        ],
        responses={
            201: SubscriptionSerializer,
            403: error_response(403, example("not a student", "permission_denied", "Only students subscribe.")),
            409: error_response(409, example("twice", "already_subscribed", "Mei already follows 'IELTS Speaking'")),
        },
    )
    @action(detail=True, methods=["post"])
    def subscribe(self, request, pk=None):
        series = self.get_object()
        student = student_of(request.user)
        if student is None:
            raise PermissionDenied(_("Only students subscribe."))
        subscription, counts = series_domain.subscribe(series, student, now=timezone.now(), actor=request.user)
        return Response(
            {"id": subscription.pk, "series": series.pk, "counts": dict(counts)}, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        tags=["series"],
        summary="Stop booking this series (students)",
        description="Your seats in occurrences that have not started are given back (refunded); those past their "
        "cancellation cutoff stay booked (`kept`).",
        request=None,
        examples=[
            OpenApiExample(
                "released", value={"id": 9, "series": 4, "counts": {"released": 6, "kept": 1}}, response_only=True
            )
        ],
        responses={200: SubscriptionSerializer},
    )
    @action(detail=True, methods=["post"])
    def unsubscribe(self, request, pk=None):
        series = self.get_object()
        student = student_of(request.user)
        subscription = (
            SeriesSubscription.objects.filter(
                series_id__in=series_domain.lineage(series), student=student, cancelled_at__isnull=True
            ).first()
            if student is not None
            else None
        )
        if subscription is None:
            raise NotFound(_("You do not follow this series."))
        counts = series_domain.cancel_subscription(subscription, now=timezone.now(), actor=request.user)
        return Response({"id": subscription.pk, "series": series.pk, "counts": dict(counts)})


class CalendarTokenView(APIView):
    """A new secret calendar feed URL for the caller (their teacher record, else their student record)."""

    @extend_schema(
        tags=["me"],
        summary="Get a new calendar feed URL (the previous one stops working)",
        description="Subscribe to it in any calendar app. It lists your classes with no join link; calendars "
        "refresh feeds late (it asks for CALENDAR_REFRESH_MINUTES).",
        request=None,
        examples=[
            OpenApiExample("new", value={"url": "https://classroom.example/calendar/3q2-…-Zw.ics"}, response_only=True)
        ],
        responses={
            201: CalendarTokenSerializer,
            403: error_response(
                403, example("nobody", "permission_denied", "Only teachers and students have a calendar.")
            ),
        },
    )
    def post(self, request):
        teacher, student = teacher_of(request.user), student_of(request.user)
        if teacher is None and student is None:
            raise PermissionDenied(_("Only teachers and students have a calendar."))
        _feed, token = calendar.regenerate(
            now=timezone.now(), teacher=teacher, student=None if teacher else student, actor=request.user
        )
        return Response({"url": calendar.feed_url(token)}, status=status.HTTP_201_CREATED)
