"""Admin of weekly classes and calendar feeds. Thin: a new series is ``meetings.series.create_series``; changes to a
series go through its scoped edits (API) or the actions here; a feed is ``meetings.calendar.regenerate``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_utils import ReadOnlyAdmin
from core.errors import DomainError, InvalidTime
from core.timezones import validate_time_zone
from meetings import calendar
from meetings import series as series_domain
from meetings.models import CalendarFeed, Series, SeriesSubscription

FORM_FIELDS = ["local_start", "time_zone", "duration_minutes", "rrule", "exdates"]


def _as_form_error(exc: InvalidTime) -> ValidationError:
    field = exc.field if exc.field in FORM_FIELDS else None
    return ValidationError({field: exc.message} if field else exc.message)


class SeriesForm(forms.ModelForm):
    """Times in the teacher's zone (the series' zone, the teacher's when left empty). Ticking "preview only" shows the
    next occurrences in UTC, in the series' zone and in the chosen student zone, and saves nothing."""

    local_start = forms.CharField(
        label=_("first start (wall clock)"), help_text=_("In the series' zone, without an offset: 2027-03-01T19:30.")
    )
    time_zone = forms.CharField(required=False, help_text=_("IANA zone; empty: the teacher's zone."))
    exdates = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Occurrences left out: one wall-clock start per line."),
    )
    student_zone = forms.CharField(
        required=False, initial="Asia/Taipei", help_text=_("Preview the times as a student in this zone sees them.")
    )
    preview_only = forms.BooleanField(required=False, initial=True, label=_("preview only (do not save)"))

    class Meta:
        model = Series
        fields = ["teacher", "course", "title", "capacity", "local_start", "time_zone", "duration_minutes", "rrule"]

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("teacher"):
            return data
        data["time_zone"] = data.get("time_zone") or data["teacher"].time_zone
        data["exdates"] = [line.strip() for line in (data.get("exdates") or "").splitlines() if line.strip()]
        candidate = Series(
            teacher=data["teacher"],
            course=data["course"],
            title=data.get("title") or data["course"].title,
            local_start=data["local_start"],
            time_zone=data["time_zone"],
            duration_minutes=data.get("duration_minutes") or 0,
            rrule=data.get("rrule", ""),
            exdates=data["exdates"],
        )
        now = timezone.now()
        try:
            series_domain.validate(candidate, now=now)
            series_domain.check_teacher_free(candidate, now=now)
        except InvalidTime as exc:
            raise _as_form_error(exc) from exc
        student_zone = data.get("student_zone") or ""
        if student_zone:
            try:
                validate_time_zone(student_zone)
            except ValidationError as exc:
                raise ValidationError({"student_zone": exc.messages}) from exc
        if data.get("preview_only"):
            rows = series_domain.preview(candidate, now=now, count=8, student_zone=student_zone)
            raise ValidationError(
                [_("Preview (nothing saved; untick 'preview only' to save):")]
                + [
                    f"{row['utc']:%Y-%m-%d %H:%M} UTC | {row['teacher']:%a %Y-%m-%d %H:%M} {candidate.time_zone}"
                    + (f" | {row['student']:%a %Y-%m-%d %H:%M} {student_zone}" if "student" in row else "")
                    + (f" | {row['note']}" if row["note"] else "")
                    for row in rows
                ]
            )
        return data


class SubscriptionInline(admin.TabularInline):
    model = SeriesSubscription
    fields = ["student", "created_at", "cancelled_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


def cancel_all(modeladmin, request, queryset):
    for series in queryset:
        try:
            cancelled = series_domain.cancel_series(
                series,
                scope="all",
                now=timezone.now(),
                actor=request.user,
                reason=f"cancelled by {request.user.get_username()} in the admin",
            )
        except DomainError as exc:
            modeladmin.message_user(
                request, gettext("%(series)s: %(error)s") % {"series": series, "error": exc}, messages.ERROR
            )
            continue
        modeladmin.message_user(
            request,
            gettext("%(series)s: %(count)s future occurrences cancelled") % {"series": series, "count": len(cancelled)},
            messages.SUCCESS,
        )


cancel_all.short_description = _("Cancel every future occurrence (refunds their bookings)")
cancel_all.allowed_permissions = ("change",)


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    form = SeriesForm
    list_display = ["id", "title", "teacher", "rrule", "local_start", "time_zone", "duration_minutes", "ends_before"]
    list_select_related = ["teacher", "course"]
    search_fields = ["=id", "title", "teacher__display_name"]
    raw_id_fields = ["teacher", "course"]
    inlines = [SubscriptionInline]
    actions = [cancel_all]
    readonly_fields = ["next_occurrences", "ends_before", "parent"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*SeriesForm.Meta.fields, "exdates", "student_zone", "preview_only"]
        return [*SeriesForm.Meta.fields, "exdates", "ends_before", "parent", "next_occurrences"]

    def get_readonly_fields(self, request, obj=None):
        # A saved series changes only through its scoped edits (this / following / all), never field by field here.
        if obj is None:
            return []
        return [*SeriesForm.Meta.fields, "exdates", "ends_before", "parent", "next_occurrences"]

    @admin.display(description=_("next occurrences (UTC | teacher's zone)"))
    def next_occurrences(self, obj):
        rows = series_domain.preview(obj, now=timezone.now(), count=8)
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} UTC | {} {} {}</li>",
                (
                    (f"{r['utc']:%Y-%m-%d %H:%M}", f"{r['teacher']:%a %Y-%m-%d %H:%M}", obj.time_zone, r["note"])
                    for r in rows
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        if change:  # every field is read-only on a saved series
            return
        data = form.cleaned_data
        created = series_domain.create_series(
            teacher=data["teacher"],
            course=data["course"],
            title=data.get("title", ""),
            capacity=data.get("capacity"),
            local_start=data["local_start"],
            time_zone=data["time_zone"],
            duration_minutes=data["duration_minutes"],
            rrule=data["rrule"],
            exdates=data["exdates"],
            now=timezone.now(),
            actor=request.user,
        )
        obj.pk = created.pk


class CalendarFeedForm(forms.ModelForm):
    class Meta:
        model = CalendarFeed
        fields = ["teacher", "student"]

    def clean(self):
        data = super().clean()
        if bool(data.get("teacher")) == bool(data.get("student")):
            raise ValidationError(_("Choose one teacher or one student."))
        return data


def regenerate_feeds(modeladmin, request, queryset):
    for feed in queryset.select_related("teacher", "student"):
        _new, token = calendar.regenerate(
            now=timezone.now(), teacher=feed.teacher, student=feed.student, actor=request.user
        )
        modeladmin.message_user(
            request,
            gettext("%(feed)s: new URL (shown once; the old one stopped working): %(url)s")
            % {"feed": feed, "url": calendar.feed_url(token)},
        )


regenerate_feeds.short_description = _("Revoke and regenerate (shows the new URL once)")
regenerate_feeds.allowed_permissions = ("change",)


def revoke_feeds(modeladmin, request, queryset):
    revoked = sum(calendar.revoke(feed, now=timezone.now(), actor=request.user) for feed in queryset)
    modeladmin.message_user(request, gettext("%(count)s feeds revoked") % {"count": revoked})


revoke_feeds.short_description = _("Revoke")
revoke_feeds.allowed_permissions = ("change",)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdmin):
    """Feeds are read-only rows; a new one is made with "add" (its URL is shown once) or the regenerate action."""

    form = CalendarFeedForm
    list_display = ["id", "teacher", "student", "created_at", "revoked_at"]
    list_select_related = ["teacher", "student"]
    raw_id_fields = ["teacher", "student"]
    actions = [regenerate_feeds, revoke_feeds]

    def has_add_permission(self, request):
        return request.user.has_perm("meetings.add_calendarfeed")

    def has_change_permission(self, request, obj=None):
        # Actions need it; the rows themselves stay read-only (no field is editable).
        return obj is None and request.user.has_perm("meetings.change_calendarfeed")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        feed, token = calendar.regenerate(
            now=timezone.now(), teacher=data.get("teacher"), student=data.get("student"), actor=request.user
        )
        obj.pk = feed.pk
        self.message_user(request, gettext("The feed's URL (shown once): %(url)s") % {"url": calendar.feed_url(token)})
