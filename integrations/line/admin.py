"""LINE channels in the admin: today's sent/failed messages and the 401 flag per channel; secrets write-only and
never shown whole (list pages show a masked prefix)."""

import datetime as dt

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from core.admin_utils import ReadOnlyAdmin
from integrations.admin_forms import WriteOnlySecretsForm, mask
from integrations.line.models import LineChannel, LineWebhookEvent, clear_auth_flags

SECRETS = ("channel_secret", "access_token")


class LineChannelForm(WriteOnlySecretsForm):
    secrets = SECRETS
    new_row = "channel"

    class Meta:
        model = LineChannel
        fields = ["name", "slug", "channel_id", "channel_secret", "access_token", "enabled"]


def today_start() -> dt.datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


@admin.register(LineChannel)
class LineChannelAdmin(admin.ModelAdmin):
    form = LineChannelForm
    list_display = [
        "name",
        "slug",
        "channel_id",
        "enabled",
        "sent_today",
        "failed_today",
        "token_refused",
        "secret_masked",
        "token_masked",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "slug", "channel_id"]
    readonly_fields = ["auth_failed_at"]
    actions = ["clear_auth_flag"]

    def get_queryset(self, request):
        since = today_start()
        return (
            super()
            .get_queryset(request)
            .annotate(
                sent_today_count=Count(
                    "notification", filter=Q(notification__state="sent", notification__sent_at__gte=since)
                ),
                failed_today_count=Count(
                    "notification", filter=Q(notification__state="failed", notification__failed_at__gte=since)
                ),
            )
        )

    @admin.display(description=gettext_lazy("sent today (UTC)"), ordering="sent_today_count")
    def sent_today(self, obj):
        return obj.sent_today_count

    @admin.display(description=gettext_lazy("failed today (UTC)"), ordering="failed_today_count")
    def failed_today(self, obj):
        return obj.failed_today_count

    @admin.display(description=gettext_lazy("token refused (401)"), ordering="auth_failed_at")
    def token_refused(self, obj):
        if obj.auth_failed_at is None:
            return "—"
        return f"since {obj.auth_failed_at:%Y-%m-%d %H:%M} UTC: replace the access token"

    @admin.display(description=gettext_lazy("channel secret"))
    def secret_masked(self, obj):
        return mask(obj.channel_secret)

    @admin.display(description=gettext_lazy("access token"))
    def token_masked(self, obj):
        return mask(obj.access_token)

    def save_model(self, request, obj, form, change):
        stored = LineChannel.objects.filter(pk=obj.pk).values_list("access_token", flat=True).first()
        if change and stored != obj.access_token:
            obj.auth_failed_at = None  # a new token deserves a new try
        super().save_model(request, obj, form, change)

    @admin.action(description=gettext_lazy("Clear the 401 flag (the token was fixed)"), permissions=["change"])
    def clear_auth_flag(self, request, queryset):
        count = clear_auth_flags(queryset, now=timezone.now(), actor=request.user)
        self.message_user(
            request,
            gettext("%(count)s channels cleared.") % {"count": count},
            messages.SUCCESS,
        )


@admin.register(LineWebhookEvent)
class LineWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "line_channel", "event_type", "line_user_id", "timestamp", "outcome"]
    list_filter = ["event_type", "line_channel", "outcome"]
    search_fields = ["line_user_id", "=webhook_event_id"]
