"""Admin building blocks shared by the apps: read-only inlines, transition actions, local-time columns."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from classroom.errors import DomainError
from classroom.timezones import format_local


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """For ledgers and logs: staff look, transitions write."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def transition_action(function, *, description: str, reason: str = "", name: str | None = None):
    """An admin action that calls ``function(obj, now=..., actor=request.user[, reason=...])`` per selected object
    and reports each outcome: done, already done, or refused with the domain's reason."""

    def action(modeladmin, request, queryset):
        now = timezone.now()
        for obj in queryset:
            kwargs = {"now": now, "actor": request.user}
            if reason:
                kwargs["reason"] = reason.format(user=request.user.get_username())
            try:
                outcome = function(obj, **kwargs)
            except DomainError as exc:
                modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
                continue
            level = messages.SUCCESS if outcome.changed else messages.WARNING
            modeladmin.message_user(request, f"{obj}: {outcome.message}", level)

    action.short_description = description
    action.__name__ = name or function.__name__
    return action


def local_time(field: str, zone_of, *, description: str):
    """A ModelAdmin column (assign it as a class attribute) showing ``field`` in the zone ``zone_of(obj)``, for beside
    the UTC column."""

    @admin.display(description=description, ordering=field)
    def column(_model_admin, obj):
        return format_local(getattr(obj, field), zone_of(obj))

    return column
