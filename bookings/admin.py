from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings import exports, transitions
from bookings.models import Appointment, Booking, Payout
from classroom.models import Teacher
from core.admin_utils import (
    HistoryColumns,
    ReadOnlyAdmin,
    confirmed_transition_action,
    money,
    permission_check,
    short_text,
    transition_action,
)
from core.errors import DomainError
from core.models import StateChange
from meetings.review import hold_for_review, record_complaint


class ObjectHistoryInline(HistoryColumns, GenericTabularInline):
    model = StateChange
    fields = ["at", "what", "by", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["at", "id"]
    verbose_name_plural = gettext_lazy("history")

    def has_add_permission(self, request, obj=None):
        return False


def _staff_cancel(booking, *, now, actor, reason):
    # Staff may cancel after the students' cutoff (a student phoning in late with a good reason).
    return transitions.cancel_booking(booking, now=now, actor=actor, reason=reason, enforce_cutoff=False)


def _staff_complaint(booking, *, now, actor):
    return record_complaint(
        booking, now=now, actor=actor, note=f"complaint passed on by {actor.get_username()} in the admin"
    )


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["id", "student", "meeting", "status", "price", "policy", "has_complaint", "created_at"]
    price = money("amount", description=gettext_lazy("amount"))
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
        "charged_amount",
        "policy",
        "feedback_rating",
        "feedback_comment",
        "feedback_at",
        "has_complaint",
        "complaint_note",
    ]
    inlines = [ObjectHistoryInline]
    actions = [
        confirmed_transition_action(
            _staff_cancel,
            description=gettext_lazy("Cancel (gives the seat back)…"),
            question=gettext_lazy(
                "Cancel these bookings? The seats are given back, paid bookings are refunded, and the students are "
                "told, with the reason you give."
            ),
            name="cancel",
            permission="change",
        ),
        transition_action(
            transitions.refund_booking,
            description=gettext_lazy("Refund"),
            reason="refunded by {user} in the admin",
            permission="refund_booking",
        ),
        "excuse",
        transition_action(
            _staff_complaint,
            description=gettext_lazy("Record a complaint from the student (holds the teacher's payout)"),
            name="record_complaint",
            permission="change",
        ),
    ]
    has_refund_booking_permission = permission_check("bookings.refund_booking")

    @admin.action(
        description="Excuse a late cancel or no-show (refunds the charge; the teacher's share leaves the payout)",
        permissions=["refund_booking"],
    )
    def excuse(self, request, queryset):
        """A page asking for the note first; then ``transitions.excuse_absence`` per booking (thin)."""
        form = ExcuseForm(request.POST if "note" in request.POST else None)
        if form.is_valid():
            now = timezone.now()
            for booking in queryset:
                try:
                    outcome = transitions.excuse_absence(
                        booking, now=now, actor=request.user, note=form.cleaned_data["note"]
                    )
                except DomainError as exc:
                    self.message_user(request, f"booking {booking.pk}: {exc}", messages.ERROR)
                else:
                    self.message_user(request, outcome.message, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Excuse late cancels and no-shows",
            "form": form,
            "bookings": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/bookings/booking/excuse.html", context)

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


class ExcuseForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept in each booking's history).")


class PayoutExportForm(forms.Form):
    teacher = forms.ModelChoiceField(
        queryset=Teacher.objects.all(), required=False, empty_label=gettext_lazy("all teachers")
    )
    start = forms.DateField(
        label=gettext_lazy("classes from (UTC date)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=gettext_lazy("to (UTC date, included)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data


def csv_response(payouts, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    exports.write_csv(payouts, response)
    return response


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    # Fits 1400 px: the net with its currency (gross and commission are on the payout's page), a short reason.
    list_display = ["id", "teacher", "meeting", "state", "net_amount", "approve_after", "held_because", "policy"]
    # Which policy version decided it (commission, dispute window, absent students' share): shown on its page too.
    readonly_fields = ["policy", "excused_percent", "review_note"]
    list_filter = ["state", "currency", "teacher", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["teacher__display_name", "=meeting__id"]
    date_hierarchy = "created_at"
    list_select_related = ["teacher", "meeting"]
    inlines = [ObjectHistoryInline]
    actions = [
        transition_action(
            transitions.approve_payout,
            description=gettext_lazy("Approve (before the dispute window ends)"),
            reason="approved by {user} in the admin",
            name="approve",
            permission="approve_payout",
        ),
        transition_action(
            transitions.mark_payout_paid,
            description=gettext_lazy("Mark paid"),
            reason="paid (marked by {user} in the admin)",
            permission="pay_payout",
        ),
        transition_action(
            hold_for_review,
            description=gettext_lazy("Hold for review (puts the class in the review queue)"),
            reason="held by {user} in the admin",
            name="hold",
            permission="hold_payout",
        ),
        "export_selected",
    ]
    net_amount = money("net", description=gettext_lazy("net"))

    @admin.display(description=gettext_lazy("held because"), ordering="held_reason")
    def held_because(self, payout):
        return short_text(payout.held_reason, 50)

    has_approve_payout_permission = permission_check("bookings.approve_payout")
    has_pay_payout_permission = permission_check("bookings.pay_payout")
    has_hold_payout_permission = permission_check("bookings.hold_payout")

    @admin.action(
        description=gettext_lazy("Export the selected approved payouts (CSV; others are left out)"),
        permissions=["view"],
    )
    def export_selected(self, request, queryset):
        return csv_response(exports.for_export(queryset), "payouts.csv")

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        return [path("export/", export, name="bookings_payout_export")] + super().get_urls()

    def export_view(self, request):
        """Approved payouts per teacher and period: a form, then the CSV (thin: bookings.exports does the work).
        For those who may see payouts (view, or change which implies it); other staff get a 403."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PayoutExportForm(request.GET or None)
        if form.is_valid():
            data = form.cleaned_data
            payouts = exports.approved_payouts(start=data["start"], end=data["end"], teacher=data["teacher"])
            who = f"teacher-{data['teacher'].pk}" if data["teacher"] else "all"
            return csv_response(payouts, f"payouts-{who}-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.csv")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext_lazy("Export approved payouts"),
            "form": form,
        }
        return TemplateResponse(request, "admin/bookings/payout/export.html", context)


# --- the payout adjustment ledger (hardening item 12): read-only; only bookings.transitions writes it -----------------


@admin.register(transitions.PayoutAdjustment)
class PayoutAdjustmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "payout", "booking", "amount_shown", "created_at", "actor_name"]
    amount_shown = money("amount", description=gettext_lazy("amount"))
    list_filter = ["currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=payout__id", "=booking__id", "payout__teacher__display_name"]
    date_hierarchy = "created_at"
    list_select_related = ["payout__teacher", "booking__student", "booking__meeting"]
    fields = readonly_fields = ["payout", "booking", "amount", "currency", "reason", "created_at", "actor_name"]
