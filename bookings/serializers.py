"""API shapes of bookings and payouts."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import Booking, Payout
from bookings.transitions import cancellation_cutoff
from classroom.models import Student
from classroom.serializers import StrictCharField, StrictIntegerField, StrictPrimaryKeyRelatedField, utc_iso
from meetings.api import MAX_ID
from meetings.serializers import MeetingSerializer


class BookedMeetingSerializer(MeetingSerializer):
    """The meeting inside a booking: the booking itself is the caller's seat, so no ``my_booking``."""

    class Meta(MeetingSerializer.Meta):
        fields = [f for f in MeetingSerializer.Meta.fields if f != "my_booking"]
        read_only_fields = fields


class BookingSerializer(serializers.ModelSerializer):
    meeting = BookedMeetingSerializer(read_only=True)
    cancellable = serializers.SerializerMethodField(
        help_text="True while the booking can still be cancelled (before meeting.cancellation_cutoff, which is this "
        "booking's own: the class's start when the class was moved after it was booked)."
    )

    class Meta:
        model = Booking
        fields = [
            "id",
            "meeting",
            "status",
            "amount",
            "currency",
            "created_at",
            "confirmed_at",
            "cancelled_at",
            "refunded_at",
            "charged_amount",
            "policy",
            "cancellable",
        ]
        extra_kwargs = {
            "charged_amount": {"help_text": "A late cancel or a no-show: what the student was charged."},
            "policy": {"help_text": "The policy version that decided this booking's money (refund or charge)."},
        }
        read_only_fields = fields

    def get_cancellable(self, booking) -> bool:
        now = self.context.get("now")
        return (
            now is not None
            and booking.status in Booking.CANCELLABLE
            and now < cancellation_cutoff(booking.meeting, booking=booking)
        )

    def to_representation(self, booking):
        data = super().to_representation(booking)
        # The meeting as this student sees it: their cutoff, which a reschedule after they booked moves to the start.
        data["meeting"]["cancellation_cutoff"] = utc_iso(cancellation_cutoff(booking.meeting, booking=booking))
        return data


class BookingCreateSerializer(serializers.Serializer):
    """Only the shape: the view looks the meeting up among those the student may see, so an unknown id and one they
    may not see are the same 404 (a 400 here would tell them apart)."""

    meeting = StrictIntegerField(
        min_value=1, max_value=MAX_ID, help_text="Id of a meeting you may book (GET /api/v1/meetings/)."
    )
    student = StrictPrimaryKeyRelatedField(
        queryset=Student.objects.all(),
        required=False,
        help_text="Staff only: the student you book for (the one who phoned in). Others leave it out (403).",
    )


class BookingCancelSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500, required=False, allow_blank=True)
    accept_late_cancel = serializers.BooleanField(
        required=False,
        default=False,
        help_text="After the cutoff: true to late-cancel, charged the policy's late-cancel percentage of the price.",
    )


class BookingCancelResultSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="False: it was already cancelled (nothing happened).")
    message = serializers.CharField()
    booking = BookingSerializer()


class PayoutMeetingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    start_time = serializers.SerializerMethodField(help_text="UTC")

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_start_time(self, meeting) -> str:
        return utc_iso(meeting.start_time)


class PayoutSerializer(serializers.ModelSerializer):
    meeting = PayoutMeetingSerializer(read_only=True)

    class Meta:
        model = Payout
        fields = [
            "id",
            "meeting",
            "state",
            "currency",
            "gross",
            "commission_rate",
            "commission",
            "net",
            "approve_after",
            "approved_at",
            "paid_at",
            "held_reason",
            "policy",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"policy": {"help_text": "The policy version that decided this payout (the class's)."}}
