"""The history of every state machine, the runners' heartbeats and django-q2's task lists, in the admin."""

from django.contrib import admin
from django.utils.translation import gettext_lazy
from django_q import admin as q_admin
from django_q.models import Failure, Success

from core.admin_utils import HistoryColumns, ReadOnlyAdmin
from core.models import HISTORY_FIELD_WORDS, StateChange, SweepHeartbeat


class WhatChangedFilter(admin.SimpleListFilter):
    """The history's "field" filter, in the words the history uses."""

    title = gettext_lazy("what changed")
    parameter_name = "field"

    def lookups(self, request, model_admin):
        fields = StateChange.objects.order_by("field").values_list("field", flat=True).distinct()
        return [(name, HISTORY_FIELD_WORDS.get(name, gettext_lazy("state"))) for name in fields]

    def queryset(self, request, queryset):
        return queryset.filter(field=self.value()) if self.value() else queryset


@admin.register(StateChange)
class StateChangeAdmin(HistoryColumns, ReadOnlyAdmin):
    list_display = ["at", "subject", "meeting", "what", "by", "reason"]
    list_filter = ["content_type", WhatChangedFilter, "to_state", "actor_name"]
    search_fields = ["=object_id", "=meeting__id", "reason", "actor_name"]
    date_hierarchy = "at"
    list_select_related = ["content_type", "meeting"]


@admin.register(SweepHeartbeat)
class SweepHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_started_at", "last_completed_at", "last_counts", "last_error"]


# --- django-q2's task lists ------------------------------------------------------------------------------------------
# django-q2 registers them with a "resubmit" action that any staff user who may look could run (it re-runs the task:
# a sweep, a delivery pass). The same admins again, with that action declaring its permission. Importing
# django_q.admin first makes sure its registrations exist to be replaced, whatever the app order.


def _resubmit(permission: str):
    """django-q2's own action, declaring ``permission`` (a copy: django-q2's function object stays as it was)."""

    @admin.action(description=q_admin.resubmit_task.short_description, permissions=[permission])
    def resubmit_task(model_admin, request, queryset):
        return q_admin.resubmit_task(model_admin, request, queryset)

    return resubmit_task


class SuccessAdmin(q_admin.TaskAdmin):
    actions = [_resubmit("change")]


class FailureAdmin(q_admin.FailAdmin):
    # Resubmitting a failed task also deletes its row (django_q.admin.resubmit_task).
    actions = [_resubmit("resubmit")]

    def has_resubmit_permission(self, request) -> bool:
        return self.has_change_permission(request) and self.has_delete_permission(request)


for _model, _model_admin in ((Success, SuccessAdmin), (Failure, FailureAdmin)):
    admin.site.unregister(_model)
    admin.site.register(_model, _model_admin)
