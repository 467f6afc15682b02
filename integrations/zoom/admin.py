"""The Zoom host account pool in the admin: today's request count and state per account; secrets write-only."""

from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from core.admin_utils import ReadOnlyAdmin
from integrations.admin_forms import WriteOnlySecretsForm, mask
from integrations.zoom import pool
from integrations.zoom.client import forget_tokens
from integrations.zoom.models import ZoomAccount, ZoomWebhookEvent

CREDENTIALS = ("account_id", "client_id", "client_secret", "host_user_id")


class ZoomAccountForm(WriteOnlySecretsForm):
    secrets = ("client_secret",)
    new_row = "account"

    class Meta:
        model = ZoomAccount
        fields = ["name", "plan", "enabled", "account_id", "client_id", "client_secret", "host_user_id"]


@admin.register(ZoomAccount)
class ZoomAccountAdmin(admin.ModelAdmin):
    form = ZoomAccountForm
    list_display = ["name", "plan", "host_user_id", "enabled", "today", "state", "last_used_at", "secret_masked"]
    list_filter = ["enabled", "plan"]
    search_fields = ["name", "account_id", "host_user_id"]
    readonly_fields = [
        "requests_today",
        "requests_date",
        "exhausted_until",
        "rate_limited_until",
        "auth_failed_at",
        "last_error",
        "last_used_at",
    ]
    actions = ["clear_marks"]

    @admin.display(description=gettext_lazy("requests today (UTC)"))
    def today(self, obj):
        return f"{obj.requests_on(timezone.now().date())} / {settings.ZOOM_DAILY_REQUEST_LIMIT}"

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj):
        return obj.state_at(timezone.now())

    @admin.display(description=gettext_lazy("client secret"))
    def secret_masked(self, obj):
        return mask(obj.client_secret)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Only the edited fields: a full save would write back the request counter as it was when the page opened
        # and lose the requests the pool counted meanwhile.
        fields = list(form.changed_data)
        if any(field in fields for field in CREDENTIALS):
            # New credentials deserve a new try: the pool skips accounts whose credentials Zoom refused.
            obj.auth_failed_at, obj.last_error = None, ""
            fields += ["auth_failed_at", "last_error"]
            forget_tokens()
        if fields:
            obj.save(update_fields=fields)

    @admin.action(
        description=gettext_lazy("Clear the daily-limit, rate-limit and refused marks"), permissions=["change"]
    )
    def clear_marks(self, request, queryset):
        count = pool.clear_marks(queryset, now=timezone.now(), actor=request.user)
        self.message_user(
            request,
            gettext("%(count)s accounts are back in the pool.") % {"count": count},
            messages.SUCCESS,
        )


@admin.register(ZoomWebhookEvent)
class ZoomWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "zoom_meeting_id", "meeting"]
    fields = ["body_sha256", "event", "zoom_meeting_id", "meeting", "received_at"]
    list_filter = ["event"]
