from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline

from bookings import transitions
from bookings.models import Appointment, Booking, Payout
from classroom.admin_utils import ReadOnlyAdmin, transition_action
from meetings.models import StateChange


class ObjectHistoryInline(GenericTabularInline):
    model = StateChange
    fields = ["at", "field", "from_state", "to_state", "actor_name", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["at", "id"]
    verbose_name_plural = "history"

    def has_add_permission(self, request, obj=None):
        return False


def _staff_cancel(booking, *, now, actor):
    return transitions.cancel_booking(
        booking, now=now, actor=actor, reason=f"cancelled by {actor} in the admin", enforce_cutoff=False
    )


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["id", "student", "meeting", "status", "amount", "currency", "has_complaint", "created_at"]
    list_filter = ["status", "has_complaint", "currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "student__display_name", "meeting__title", "=meeting__id"]
    date_hierarchy = "created_at"
    list_select_related = ["student", "meeting"]
    raw_id_fields = ["student", "meeting"]
    readonly_fields = [
        "student",
        "meeting",
        "status",
        "amount",
        "currency",
        "created_at",
        "confirmed_at",
        "completed_at",
        "cancelled_at",
        "refunded_at",
        "feedback_rating",
        "feedback_comment",
        "feedback_at",
    ]
    inlines = [ObjectHistoryInline]
    actions = [
        transition_action(_staff_cancel, description="Cancel (gives the seat back)", name="cancel"),
        transition_action(transitions.refund_booking, description="Refund", reason="refunded by {user} in the admin"),
    ]

    def has_add_permission(self, request):
        return False  # seats are taken through bookings.transitions.book (API), which enforces capacity


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    list_display = [
        "booking",
        "meeting",
        "student",
        "join_link_state",
        "join_link_due_at",
        "join_link_at",
        "feedback_link_state",
        "feedback_link_due_at",
        "feedback_link_at",
    ]
    list_filter = ["join_link_state", "feedback_link_state", ("join_link_due_at", admin.DateFieldListFilter)]
    search_fields = ["student__display_name", "=meeting__id"]
    date_hierarchy = "join_link_due_at"
    list_select_related = ["booking", "meeting", "student"]
    inlines = [ObjectHistoryInline]


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ["id", "teacher", "meeting", "state", "gross", "commission", "net", "currency", "approve_after"]
    list_filter = ["state", "currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["teacher__display_name", "=meeting__id"]
    date_hierarchy = "created_at"
    list_select_related = ["teacher", "meeting"]
    inlines = [ObjectHistoryInline]
