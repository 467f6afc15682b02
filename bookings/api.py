"""API: students' bookings (book, list, cancel) and teachers' payouts (read-only). Thin: the rules are in
``bookings.transitions`` (capacity under concurrency, the cancellation cutoff)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from bookings import transitions
from bookings.models import Booking, Payout
from bookings.serializers import (
    BookingCancelResultSerializer,
    BookingCancelSerializer,
    BookingCreateSerializer,
    BookingSerializer,
    PayoutSerializer,
)
from classroom.idempotency import idempotent
from classroom.serializers import student_of, teacher_of
from config.api import error_response, example, read_only_schema
from meetings.api import IDEMPOTENCY_PARAMETER, MEETING_EXAMPLE, visible_meetings

BOOKING_EXAMPLE = {
    "id": 12,
    "meeting": {k: v for k, v in MEETING_EXAMPLE.items() if k != "my_booking"},
    "status": "confirmed",
    "amount": "10.00",
    "currency": "USD",
    "created_at": "2026-06-30T09:15:02Z",
    "confirmed_at": "2026-06-30T09:15:02Z",
    "cancelled_at": None,
    "refunded_at": None,
    "charged_amount": None,
    "policy": None,
    "cancellable": True,
}
PAYOUT_EXAMPLE = {
    "id": 4,
    "meeting": {"id": 7, "title": "IELTS Practice", "start_time": "2026-07-01T13:00:00Z"},
    "state": "pending",
    "currency": "USD",
    "gross": "30.00",
    "commission_rate": "0.2000",
    "commission": "6.00",
    "net": "24.00",
    "approve_after": "2026-07-02T14:05:00Z",
    "approved_at": None,
    "paid_at": None,
    "held_reason": "",
    "policy": 3,
    "created_at": "2026-07-01T14:05:00Z",
}


@read_only_schema(
    "bookings",
    list_summary="Your bookings (staff: all)",
    one_summary="One of your bookings",
    example_name="a booking",
    value=BOOKING_EXAMPLE,
)
class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = BookingSerializer

    def get_queryset(self):
        bookings = transitions.with_last_reschedule(
            Booking.objects.select_related("meeting", "meeting__teacher", "meeting__course")
        ).order_by("-created_at", "-id")
        user = self.request.user
        if user.is_staff:
            return bookings
        student = student_of(user)
        return bookings.filter(student=student) if student is not None else bookings.none()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(
        tags=["bookings"],
        summary="Book a seat (students; staff for a student)",
        description="Takes one seat at the course price and confirms it. Staff book for a student by giving "
        "`student` (the student's id); anyone else who gives it gets 403. Two students racing for the last seat: one "
        "gets 201, the other 409 `class_full`. A meeting that does not exist, or that you may not see (GET "
        "/api/v1/meetings/ lists those you may book), is a 404. Send an Idempotency-Key to make a retry safe.",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=BookingCreateSerializer,
        responses={
            201: BookingSerializer,
            400: error_response(
                400,
                example(
                    "not an id",
                    "validation_error",
                    "meeting: A valid integer is required.",
                    {"meeting": ["A valid integer is required."]},
                ),
            ),
            403: error_response(
                403,
                example("not a student", "permission_denied", "Only students book seats."),
                example("for someone else", "permission_denied", "Only staff book a seat for another student."),
            ),
            404: error_response(
                404,
                example(
                    "unknown or not yours to see",
                    "not_found",
                    "There is no meeting 999999 that you can book.",
                ),
            ),
            409: error_response(
                409,
                example("full", "class_full", "'IELTS Practice' is full (8 seats)"),
                example("twice", "already_booked", "Alice already has a seat in 'IELTS Practice'"),
                example("own class", "own_class", "You teach 'IELTS Practice', so you cannot book a seat in it."),
                example("over", "booking_closed", "'IELTS Practice' can no longer be joined, so it cannot be booked"),
            ),
            422: error_response(422),
        },
        examples=[
            OpenApiExample("book", value={"meeting": 7}, request_only=True),
            OpenApiExample("staff book for a student", value={"meeting": 7, "student": 3}, request_only=True),
            OpenApiExample("booked", value=BOOKING_EXAMPLE, response_only=True),
        ],
    )
    @idempotent
    def create(self, request):
        user = request.user
        # (The body may be any JSON; the serializer refuses one that is not an object.)
        if isinstance(request.data, dict) and "student" in request.data and not user.is_staff:
            raise PermissionDenied(_("Only staff book a seat for another student."))
        if not user.is_staff and student_of(user) is None:
            raise PermissionDenied(_("Only students book seats."))
        now = timezone.now()
        body = BookingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # Staff book for the student who phoned in; the history names the staff member as the actor.
        student = body.validated_data.get("student") or student_of(user)
        if student is None:
            raise serializers.ValidationError({"student": [_("Name the student you book for (their id).")]})
        meeting_id = body.validated_data["meeting"]
        meeting = visible_meetings(request.user, now).filter(pk=meeting_id).first()
        if meeting is None:  # nonexistent or not yours to see: the same answer, so existence does not leak
            raise NotFound(_("There is no meeting %(id)s that you can book.") % {"id": meeting_id})
        booking = transitions.book(student, meeting, now=now, actor=user)
        booking = self.get_queryset().get(pk=booking.pk)
        return Response(self.get_serializer(booking).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["bookings"],
        summary="Cancel your booking (a late cancel after the cutoff)",
        description="Before the booking's meeting.cancellation_cutoff (the policy's "
        "booking_cancellation_cutoff_minutes before the start; the start itself when the class was moved after you "
        "booked) the seat is given back, a paid booking is refunded (`refunded_at`), and you and the teacher are told. "
        "After it, 409 `cancellation_too_late` says the charge; send `accept_late_cancel: true` to late-cancel: "
        "status `late_cancelled`, `charged_amount` kept, the rest refunded, `policy` the version applied. Cancelling "
        "a cancelled booking changes nothing (`changed: false`).",
        request=BookingCancelSerializer,
        examples=[
            OpenApiExample(
                "cancelled",
                value={
                    "changed": True,
                    "message": "booking 12: confirmed → cancelled",
                    "booking": {
                        **BOOKING_EXAMPLE,
                        "status": "cancelled",
                        "cancelled_at": "2026-06-30T10:00:00Z",
                        "refunded_at": "2026-06-30T10:00:00Z",
                        "cancellable": False,
                    },
                },
                response_only=True,
            )
        ],
        responses={
            200: BookingCancelResultSerializer,
            403: error_response(
                403, example("not yours", "permission_denied", "Only the student who booked can cancel.")
            ),
            409: error_response(
                409,
                example(
                    "too late",
                    "cancellation_too_late",
                    "bookings can be cancelled until 120 minutes before the class starts "
                    "(2026-07-01 18:00 Asia/Ho_Chi_Minh); cancelling now is a late cancel charged at 100% of the "
                    "price: confirm it to go ahead",
                ),
                example(
                    "moved, then too late",
                    "cancellation_too_late",
                    "this class was moved after you booked, so you could cancel it until it started "
                    "(2026-07-01 20:00 Asia/Ho_Chi_Minh)",
                ),
                example("completed", "illegal_transition", "booking 12 is completed; it cannot become cancelled"),
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        booking = self.get_object()
        student = student_of(request.user)
        if student is None or booking.student_id != student.pk:
            raise PermissionDenied(_("Only the student who booked can cancel."))
        body = BookingCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = transitions.cancel_booking(
            booking,
            now=timezone.now(),
            actor=request.user,
            reason=body.validated_data.get("reason", ""),
            accept_late=body.validated_data["accept_late_cancel"],
        )
        booking = self.get_queryset().get(pk=booking.pk)
        return Response(
            {
                "changed": outcome.changed,
                "message": outcome.message,
                "booking": self.get_serializer(booking).data,
            }
        )


@read_only_schema(
    "payouts",
    list_summary="Your payouts (teachers; staff: all)",
    one_summary="One of your payouts",
    example_name="a payout",
    value=PAYOUT_EXAMPLE,
    description="Read-only. A student gets 403 `permission_denied` (only teachers have payouts).",
)
class PayoutViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PayoutSerializer

    def get_queryset(self):
        payouts = Payout.objects.select_related("meeting").order_by("-created_at", "-id")
        user = self.request.user
        if user.is_staff or getattr(self, "swagger_fake_view", False):  # the schema generator looks at the model
            return payouts
        teacher = teacher_of(user)
        if teacher is None:
            raise PermissionDenied(_("Only teachers have payouts."))
        return payouts.filter(teacher=teacher)
