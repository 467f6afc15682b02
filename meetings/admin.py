from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings.models import Booking
from core.admin_utils import (
    HistoryColumns,
    ReadOnlyAdmin,
    ReadOnlyInline,
    WallClockField,
    confirmed_transition_action,
    local_time,
    money,
    permission_check,
    transition_action,
    utc_and_local,
)
from core.errors import DomainError, InvalidTime
from core.models import StateChange
from core.timezones import check_wall_interval, local_to_utc, to_local
from meetings import lifecycle, series_admin  # noqa: F401  (series_admin: importing it registers its admins)
from meetings.admin_views import book_student, lifecycle_dashboard, review_decide, review_queue
from meetings.models import Meeting, MeetingParticipant, Recording
from meetings.settlement import SETTLED_FIELDS


class HistoryInline(HistoryColumns, ReadOnlyInline):
    model = StateChange
    fk_name = "meeting"
    fields = ["at", "subject", "what", "by", "reason"]
    readonly_fields = fields
    ordering = ["at", "id"]
    show_change_link = False
    verbose_name_plural = gettext_lazy("history (this meeting, its bookings, appointments and payout)")


class ParticipantInline(ReadOnlyInline):
    model = MeetingParticipant
    fields = ["role", "display_name", "identity", "joined_at", "left_at", "source"]
    readonly_fields = fields
    verbose_name_plural = gettext_lazy("attendance sessions")


class RecordingInline(ReadOnlyInline):
    """The class's recordings: shown to staff who may view recordings (the inline checks ``view_recording``); the
    files themselves are played only through the signed play view."""

    model = Recording
    fields = [
        "kind",
        "file_type",
        "state",
        "size_bytes",
        "duration_seconds",
        "ready_at",
        "retention_until",
        "last_error",
    ]
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = gettext_lazy("recordings")


class BookingInline(ReadOnlyInline):
    model = Booking
    fields = ["student", "status", "price", "created_at"]
    readonly_fields = fields
    price = money("amount", description=gettext_lazy("amount"))


class MeetingForm(forms.ModelForm):
    """Times are typed as the teacher's wall clock shows them, in the zone named beside the fields: the class's
    teacher's (so changing the teacher on the same save does not move the class), or for a new class the chosen
    teacher's. UTC is what is stored; the page shows it on the line below."""

    start_time = WallClockField(label=gettext_lazy("Start"))
    end_time = WallClockField(label=gettext_lazy("End"))

    class Meta:
        model = Meeting
        fields = ["teacher", "course", "title", "start_time", "end_time", "capacity"]
        help_texts = {
            "teacher": gettext_lazy("Changing it on a scheduled class makes the new one the substitute (see history)."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            tz_name = self.instance.teacher.time_zone
            for name in ("start_time", "end_time"):
                self.initial[name] = to_local(getattr(self.instance, name), tz_name).replace(tzinfo=None)
            zone_text = _("in %(zone)s, the teacher's time zone") % {"zone": tz_name}
        else:
            zone_text = _("in the chosen teacher's time zone")
        for name in ("start_time", "end_time"):
            self.fields[name].help_text = zone_text

    def zone(self, data) -> str | None:
        if self.instance.pk:
            return self.instance.teacher.time_zone
        teacher = data.get("teacher")
        return teacher.time_zone if teacher is not None else None

    def clean(self):
        data = super().clean()
        # Out of cleaned_data until they are UTC: a refused form must not leave wall-clock times for the instance.
        wall_start, wall_end = data.pop("start_time", None), data.pop("end_time", None)
        # The state first: an open class's start is in the past, and saying so would hide the real reason.
        if self.instance.pk and self.instance.state != Meeting.State.SCHEDULED:
            raise ValidationError(
                _("This class is already %(state)s; only a scheduled class can be edited.")
                % {"state": self.instance.get_state_display().lower()}
            )
        tz_name = self.zone(data)
        if wall_start and wall_end and tz_name:
            try:
                check_wall_interval(wall_start, wall_end, tz_name)
                start = local_to_utc(wall_start, tz_name, field="start_time")
                end = local_to_utc(wall_end, tz_name, field="end_time")
                data["start_time"], data["end_time"] = lifecycle.validate_times(start, end, now=timezone.now())
            except InvalidTime as exc:
                raise ValidationError({exc.field: exc.message}) from exc
        if self.instance.pk and data.get("capacity") is not None and data["capacity"] < self.instance.seats_taken:
            raise ValidationError(
                {"capacity": _("%(seats)s seats are already booked.") % {"seats": self.instance.seats_taken}}
            )
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
    # Fits 1400 px: one time column (the teacher's zone, UTC below); the rest is on the class's page and in filters.
    list_display = [
        "id",
        "title",
        "teacher",
        "state",
        "starts",
        "seats",
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
    inlines = [BookingInline, ParticipantInline, RecordingInline, HistoryInline]

    def get_inline_instances(self, request, obj=None):
        # The recordings are only shown (never posted back): a save of the meeting does not carry their formset.
        inlines = super().get_inline_instances(request, obj)
        if request.method == "POST":
            inlines = [inline for inline in inlines if not isinstance(inline, RecordingInline)]
        return inlines

    # Read-only: the transitions and the sweeps write these.
    readonly_fields = [
        "start_utc",
        "end_utc",
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
                    "start_utc",
                    "end_time",
                    "end_utc",
                    "capacity",
                    "seats_taken",
                ]
            },
        ),
        (gettext_lazy("Lifecycle"), {"fields": LIFECYCLE_FIELDS}),
        (gettext_lazy("Attendance and review"), {"fields": REVIEW_FIELDS}),
        (gettext_lazy("Video room"), {"fields": ROOM_FIELDS}),
        (gettext_lazy("Failures"), {"fields": FAILURE_FIELDS}),
    ]
    actions = [
        transition_action(lifecycle.open_meeting, description=gettext_lazy("Open now"), permission="change"),
        transition_action(
            lifecycle.close_meeting,
            description=gettext_lazy("Close now (ends the room for everyone)"),
            permission="change",
        ),
        confirmed_transition_action(
            lifecycle.cancel_meeting,
            description=gettext_lazy("Cancel (refunds every booking)…"),
            question=gettext_lazy(
                "Cancel these classes? Every booking is refunded and the teacher and the students are told, with "
                "the reason you give. This cannot be undone."
            ),
            name="cancel_meeting",
            permission="cancel_meeting",
        ),
        "book_a_student",
    ]
    has_cancel_meeting_permission = permission_check("meetings.cancel_meeting")
    has_book_student_permission = permission_check("bookings.add_booking")

    @admin.action(description=gettext_lazy("Book a student (a student who phones in)…"), permissions=["book_student"])
    def book_a_student(self, request, queryset):
        """Leads to the booking page of the one selected class (choose the student, confirm)."""
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one class to book a student into."), messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:meetings_meeting_book", args=[queryset.get().pk]))

    starts = utc_and_local("start_time", lambda m: m.teacher.time_zone, description=gettext_lazy("starts"))
    # The second line under each time typed in the teacher's zone: what is stored.
    start_utc = local_time("start_time", lambda _m: "UTC", description=gettext_lazy("start, stored in UTC"))
    end_utc = local_time("end_time", lambda _m: "UTC", description=gettext_lazy("end, stored in UTC"))

    @admin.display(description=gettext_lazy("seats"))
    def seats(self, obj):
        return f"{obj.seats_taken}/{obj.capacity}"

    def has_delete_permission(self, request, obj=None):
        # A class is never deleted, not even by a superuser: its bookings, payout and history hang on it. Cancel it.
        return False

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
                "<int:meeting_id>/book/",
                self.admin_site.admin_view(book_student),
                name="meetings_meeting_book",
            ),
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


# The admin's home page links to the review queue and the lifecycle page (the daily work), above the app list.
admin.site.index_template = "admin/daily_work_index.html"
