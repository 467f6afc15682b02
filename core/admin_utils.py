"""Admin building blocks shared by the apps: read-only inlines, transition actions, permission checks, local-time
columns.

Permissions: every action declares the permission it needs (``allowed_permissions``), so a staff user who may only
look is offered none and a forged POST of one is refused by Django like an unknown action. A built-in one ("change",
"delete", "view") is checked by the ModelAdmin's own ``has_change_permission`` (and so on); a custom one
("approve_payout") by a ``has_approve_payout_permission`` method, made with :func:`permission_check`. Custom admin
pages use :func:`requires_permission` (403 otherwise).
"""

from __future__ import annotations

import datetime as dt
import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy

from core.errors import DomainError
from core.money import format_money
from core.timezones import format_local


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


class HistoryColumns:
    """The history's columns in words, for the history inlines and list (``StateChange.describe``)."""

    @admin.display(description=gettext_lazy("what happened"))
    def what(self, change):
        return change.describe()

    @admin.display(description=gettext_lazy("on"))
    def subject(self, change):
        return change.subject

    @admin.display(description=gettext_lazy("by"), ordering="actor_name")
    def by(self, change):
        return change.actor_name


def permission_check(perm: str):
    """A ``has_<name>_permission`` method granting the actions that declare ``<name>`` to users holding ``perm``
    ("app_label.codename"; superusers hold every permission)."""

    def check(_model_admin, request, obj=None) -> bool:
        return request.user.has_perm(perm)

    check.__doc__ = f"Holds {perm}."
    return check


def requires_permission(*perms: str):
    """A custom admin view's guard: the user needs one of ``perms`` ("app_label.codename"), or gets a 403. Wrap the
    result in ``admin_site.admin_view`` as usual (that one only checks for an active staff login)."""

    def decorate(view):
        @functools.wraps(view)
        def guarded(request, *args, **kwargs):
            if not any(request.user.has_perm(perm) for perm in perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def transition_action(function, *, description: str, permission: str, reason: str = "", name: str | None = None):
    """An admin action that calls ``function(obj, now=..., actor=request.user[, reason=...])`` per selected object
    and reports each outcome: done, already done, or refused with the domain's reason.

    ``permission`` is the one the action needs: "change", or a custom name that the ModelAdmin grants through a
    ``has_<permission>_permission`` method (:func:`permission_check`); Django's check admin.E129 names a missing one.
    """

    def action(modeladmin, request, queryset):
        now = timezone.now()
        for obj in queryset:
            kwargs = {"now": now, "actor": request.user}
            if reason:
                kwargs["reason"] = reason.format(user=request.user.get_username())
            _report(modeladmin, request, obj, lambda obj=obj, kwargs=kwargs: function(obj, **kwargs))

    action.short_description = description
    action.__name__ = name or function.__name__
    action.allowed_permissions = (permission,)
    return action


class WallClockField(forms.SplitDateTimeField):
    """A date and a time as read on someone's wall clock: naive, with no zone guessed. The form that uses it names
    the zone beside the field and turns the value into UTC with ``core.timezones.local_to_utc`` (which refuses a
    time that does not exist or happens twice), instead of Django reading it in the server's zone."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", admin.widgets.AdminSplitDateTime)
        super().__init__(**kwargs)

    def compress(self, data_list):
        if data_list and data_list[0] is not None and data_list[1] is not None:
            return dt.datetime.combine(*data_list)
        return super().compress(data_list)  # the "enter a date and a time" errors


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Told to the people concerned, in the message they get, and kept in the history."),
    )


def _report(modeladmin, request, obj, call):
    try:
        outcome = call()
    except DomainError as exc:
        modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
        return
    level = messages.SUCCESS if outcome.changed else messages.WARNING
    modeladmin.message_user(request, f"{obj}: {outcome.message}", level)


def confirmed_transition_action(function, *, description: str, permission: str, name: str, question: str):
    """Like :func:`transition_action`, for an action that cannot be undone (cancelling a class): the first POST shows
    an intermediate page listing the selected objects with ``question`` and a required reason; only the confirmed
    POST calls ``function(obj, now=..., actor=request.user, reason=<the reason typed>)`` per object. The reason is
    the one the transition passes on (a cancelled class's students are told it)."""

    def action(modeladmin, request, queryset):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            now = timezone.now()
            reason = form.cleaned_data["reason"]
            for obj in queryset:
                _report(
                    modeladmin, request, obj, lambda obj=obj: function(obj, now=now, actor=request.user, reason=reason)
                )
            return None
        opts = modeladmin.model._meta
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "question": question,
            "objects": list(queryset),
            "form": form,
            "action": name,
            "opts": opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/confirm_transition.html", context)

    action.short_description = description
    action.__name__ = name
    action.allowed_permissions = (permission,)
    return action


def local_time(field: str, zone_of, *, description: str):
    """A ModelAdmin column (assign it as a class attribute) showing ``field`` in the zone ``zone_of(obj)``, for beside
    the UTC column."""

    @admin.display(description=description, ordering=field)
    def column(_model_admin, obj):
        return format_local(getattr(obj, field), zone_of(obj))

    return column


def utc_and_local(field: str, zone_of, *, description: str):
    """A column with ``field`` in the zone ``zone_of(obj)`` and, on a second line, in UTC: one narrow column where
    there used to be two."""

    @admin.display(description=description, ordering=field)
    def column(_model_admin, obj):
        value = getattr(obj, field)
        if value is None:
            return "—"
        return format_html(
            '{}<br><small class="utc">{}</small>', format_local(value, zone_of(obj)), format_local(value, "UTC")
        )

    return column


def money(field: str, *, description: str, currency_field: str = "currency"):
    """A column with the amount in ``field`` for people (240,000 VND; 1,200.00 TWD), right-aligned."""

    @admin.display(description=description, ordering=field)
    def column(_model_admin, obj):
        return format_money(getattr(obj, field), getattr(obj, currency_field))

    return column


def short_text(value: str, length: int = 60) -> str:
    """A long text cut to ``length`` characters for a list column (the full text is on the object's page)."""
    return Truncator(value or "").chars(length)
