from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy

from bookings.models import Booking
from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline, local_time, permission_check, transition_action
from core.errors import DomainError, InvalidTime
from core.models import StateChange
from meetings import lifecycle
from meetings.admin_views import lifecycle_dashboard, review_decide, review_queue
from meetings.models import Meeting, MeetingParticipant
from meetings.settlement import SETTLED_FIELDS


class HistoryInline(ReadOnlyInline):
    model = StateChange
    fk_name = "meeting"
    fields = ["at", "content_type", "object_id", "field", "from_state", "to_state", "actor_name", "reason"]
    readonly_fields = fields
    ordering = ["at", "id"]
    show_change_link = False
    verbose_name_plural = "history (this meeting, its bookings, appointments and payout)"


class ParticipantInline(ReadOnlyInline):
    model = MeetingParticipant
    fields = ["role", "display_name", "identity", "joined_at", "left_at", "source"]
    readonly_fields = fields
    verbose_name_plural = "attendance sessions"


class BookingInline(ReadOnlyInline):
    model = Booking
    fields = ["student", "status", "amount", "currency", "created_at"]
    readonly_fields = fields


class MeetingForm(forms.ModelForm):
    class Meta:
        model = Meeting
        fields = ["teacher", "course", "title", "start_time", "end_time", "capacity"]
        help_texts = {
            "start_time": "UTC",
            "end_time": "UTC",
            "teacher": gettext_lazy("Changing it on a scheduled class makes the new one the substitute (see history)."),
        }

    def clean(self):
        data = super().clean()
        if data.get("start_time") and data.get("end_time"):
            try:
                lifecycle.validate_times(data["start_time"], data["end_time"], now=timezone.now())
            except InvalidTime as exc:
                raise ValidationError({exc.field: exc.message}) from exc
        if self.instance.pk and self.instance.state != Meeting.State.SCHEDULED:
            raise ValidationError(f"This meeting is {self.instance.state}; only a scheduled meeting can be edited.")
        if self.instance.pk and data.get("capacity") is not None and data["capacity"] < self.instance.seats_taken:
            raise ValidationError({"capacity": f"{self.instance.seats_taken} seats are already booked."})
        return data


LIFECYCLE_FIELDS = [
    "state",
    "opened_at",
    "open_lateness",
    "auto_opened",
    "closed_at",
    "auto_closed",
    "cancelled_at",
    "min_participants_checked_at",
    "policy",  # the version whose windows apply (classroom.policies); its link shows its values
]
REVIEW_FIELDS = [*SETTLED_FIELDS, "reviewed_by", "reviewed_at", "review_note"]
ROOM_FIELDS = [
    "room_provider",
    "room_name",
    "room_external_id",
    "room_join_url",
    "room_provisioned_at",
    "room_ended_at",
]
FAILURE_FIELDS = ["last_error", "last_error_at", "retry_at", "failure_count"]


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    form = MeetingForm
    list_display = [
        "id",
        "title",
        "teacher",
        "state",
        "start_time",
        "start_local",
        "end_time",
        "seats",
        "auto_opened",
        "auto_closed",
        "attendance_verdict",
        "requires_manual_review",
    ]
    list_filter = [
        "state",
        "requires_manual_review",
        "review_state",
        "attendance_verdict",
        "room_provider",
        "auto_opened",
        ("start_time", admin.DateFieldListFilter),
    ]
    search_fields = ["=id", "title", "teacher__display_name", "course__title"]
    date_hierarchy = "start_time"
    list_select_related = ["teacher", "course"]
    raw_id_fields = ["teacher", "course"]
    inlines = [BookingInline, ParticipantInline, HistoryInline]
    # Read-only: the transitions and the sweeps write these.
    readonly_fields = [
        "start_local",
        "end_local",
        "seats_taken",
        *LIFECYCLE_FIELDS,
        *REVIEW_FIELDS,
        *ROOM_FIELDS,
        *FAILURE_FIELDS,
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "teacher",
                    "course",
                    "title",
                    "start_time",
                    "start_local",
                    "end_time",
                    "end_local",
                    "capacity",
                    "seats_taken",
                ]
            },
        ),
        ("Lifecycle", {"fields": LIFECYCLE_FIELDS}),
        ("Attendance and review", {"fields": REVIEW_FIELDS}),
        ("Video room", {"fields": ROOM_FIELDS}),
        ("Failures", {"fields": FAILURE_FIELDS}),
    ]
    actions = [
        transition_action(lifecycle.open_meeting, description="Open now", permission="change"),
        transition_action(
            lifecycle.close_meeting, description="Close now (ends the room for everyone)", permission="change"
        ),
        transition_action(
            lifecycle.cancel_meeting,
            description="Cancel (refunds every booking)",
            reason="cancelled by {user} in the admin",
            permission="cancel_meeting",
        ),
    ]
    has_cancel_meeting_permission = permission_check("meetings.cancel_meeting")

    start_local = local_time("start_time", lambda m: m.teacher.time_zone, description="start (teacher's zone)")
    end_local = local_time("end_time", lambda m: m.teacher.time_zone, description="end (teacher's zone)")

    @admin.display(description="seats")
    def seats(self, obj):
        return f"{obj.seats_taken}/{obj.capacity}"

    def get_readonly_fields(self, request, obj=None):
        # A class belongs to its course: its price, the bookings' amounts and the payout come from it.
        return [*self.readonly_fields, "course"] if obj is not None else self.readonly_fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            # The form's checks passed and a transition refused (a rule only it checks, or a race). The view's
            # transaction is rolled back, so nothing of this save is kept; the reason is shown, not a 500.
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.path)

    def save_model(self, request, obj, form, change):
        now = timezone.now()
        data = form.cleaned_data
        if change:
            if "teacher" in form.changed_data:
                lifecycle.substitute_teacher(obj, data["teacher"], now=now, actor=request.user)
            lifecycle.edit_meeting(
                obj,
                now=now,
                actor=request.user,
                start_time=data["start_time"],
                end_time=data["end_time"],
                title=data["title"],
                capacity=data["capacity"],
            )
        else:
            created = lifecycle.schedule_meeting(
                teacher=data["teacher"],
                course=data["course"],
                title=data["title"],
                start_time=data["start_time"],
                end_time=data["end_time"],
                capacity=data["capacity"],
                now=now,
                actor=request.user,
            )
            obj.pk = created.pk

    def get_urls(self):
        return [
            path("lifecycle/", self.admin_site.admin_view(lifecycle_dashboard), name="meetings_lifecycle"),
            path("review/", self.admin_site.admin_view(review_queue), name="meetings_review_queue"),
            path(
                "review/<int:meeting_id>/decide/",
                self.admin_site.admin_view(review_decide),
                name="meetings_review_decide",
            ),
        ] + super().get_urls()


@admin.register(MeetingParticipant)
class MeetingParticipantAdmin(ReadOnlyAdmin):
    list_display = ["meeting", "role", "display_name", "joined_at", "left_at", "source"]
    list_filter = ["role", "source", ("joined_at", admin.DateFieldListFilter)]
    search_fields = ["identity", "display_name", "=meeting__id"]
    date_hierarchy = "joined_at"
    list_select_related = ["meeting"]
