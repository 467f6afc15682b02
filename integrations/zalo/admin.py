"""Zalo in the admin: channels (today's sent/failed messages, the refresh-refused flag, token expiry; app id, OA id,
keys and tokens write-only and never shown whole), each with its templates per message kind; the messages sent with
their receipts (read only)."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from core.admin_utils import ReadOnlyAdmin
from integrations.admin_forms import TodaysMessagesAdmin, WriteOnlySecretsAdmin, WriteOnlySecretsForm, mask
from integrations.zalo.models import ZaloChannel, ZaloMessage, ZaloTemplate, clear_auth_flags

SECRETS = ("app_id", "oa_id", "secret_key", "oa_secret_key", "access_token", "refresh_token")


class ZaloChannelForm(WriteOnlySecretsForm):
    secrets = SECRETS
    new_row = "channel"

    class Meta:
        model = ZaloChannel
        fields = ["name", "slug", *SECRETS, "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The access token may be left empty on a new channel: it is refreshed before the first message.
        if "access_token" in self.fields:
            self.fields["access_token"].help_text = gettext_lazy(
                "Optional: refreshed from the refresh token when empty."
            )

    def clean(self):
        data = super().clean()
        if "access_token" in self.errors:
            del self.errors["access_token"]
            data["access_token"] = ""
        return data


class ZaloTemplateInline(admin.TabularInline):
    model = ZaloTemplate
    extra = 1
    fields = ["kind", "template_id", "parameters", "button_parameter"]


@admin.register(ZaloChannel)
class ZaloChannelAdmin(WriteOnlySecretsAdmin, TodaysMessagesAdmin):
    messages_path = "messages__notification"
    form = ZaloChannelForm
    inlines = [ZaloTemplateInline]
    list_display = [
        "name",
        "slug",
        "enabled",
        "sent_today",
        "failed_today",
        "token_expires_at",
        "refresh_refused",
        "app_masked",
        "token_masked",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "slug"]
    readonly_fields = ["token_expires_at", "auth_failed_at", "auth_error"]
    actions = ["clear_auth_flag"]

    @admin.display(description=gettext_lazy("token refresh refused"), ordering="auth_failed_at")
    def refresh_refused(self, obj):
        if obj.auth_failed_at is None:
            return "—"
        return gettext("since %(at)s UTC: paste a new refresh token") % {"at": f"{obj.auth_failed_at:%Y-%m-%d %H:%M}"}

    @admin.display(description=gettext_lazy("app id"))
    def app_masked(self, obj):
        return mask(obj.app_id)

    @admin.display(description=gettext_lazy("access token"))
    def token_masked(self, obj):
        return mask(obj.access_token)

    def save_model(self, request, obj, form, change):
        stored = ZaloChannel.objects.filter(pk=obj.pk).values_list("access_token", "refresh_token").first()
        if change and stored is not None and stored != (obj.access_token, obj.refresh_token):
            obj.auth_failed_at, obj.auth_error = None, ""  # new tokens deserve a new try
            if stored[0] != obj.access_token:
                obj.token_expires_at = None  # its lifetime is unknown: refreshed before the next message
        super().save_model(request, obj, form, change)

    @admin.action(
        description=gettext_lazy("Clear the refresh-refused flag (the OA was reconnected)"), permissions=["change"]
    )
    def clear_auth_flag(self, request, queryset):
        count = clear_auth_flags(queryset, now=timezone.now(), actor=request.user)
        self.message_user(request, gettext("%(count)s channels cleared.") % {"count": count}, messages.SUCCESS)


@admin.register(ZaloMessage)
class ZaloMessageAdmin(ReadOnlyAdmin):
    list_display = ["last_call_at", "zalo_channel", "notification", "state", "calls", "msg_id", "received_at"]
    list_filter = ["zalo_channel", "state", ("received_at", admin.EmptyFieldListFilter)]
    search_fields = ["=tracking_id", "=msg_id"]
    list_select_related = ["zalo_channel", "notification"]
