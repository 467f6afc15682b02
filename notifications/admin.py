from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from core.admin_utils import ReadOnlyAdmin, permission_check, short_text
from notifications import delivery
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The outbox: what was sent to whom, what is waiting and why; "retry now" gives failed rows another go."""

    # Fits 1400 px: who, what (the text itself, cut short), where it stands; the whole row is on its page.
    list_display = ["id", "kind", "state", "recipient", "meeting_id", "text", "attempts", "next_attempt_at", "error"]
    list_filter = ["state", "kind", "channel", "line_channel", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "address", "=meeting__id", "dedupe_key"]
    date_hierarchy = "created_at"
    # The message as the recipient reads it, not the stored JSON.
    fields = readonly_fields = [
        *(f.name for f in Notification._meta.fields if f.name not in ("payload", "payload_hash")),
        "message_text",
        "link",
    ]
    actions = ["retry_now"]
    # The outbox is read-only (has_change_permission is always False), so "retry" checks the model's change
    # permission itself.
    has_retry_permission = permission_check("notifications.change_notification")

    @admin.display(description=gettext_lazy("to"), ordering="address")
    def recipient(self, notification):
        return f"{notification.channel}: {short_text(notification.address, 24)}" if notification.address else "—"

    @admin.display(description=gettext_lazy("message"))
    def text(self, notification):
        return short_text(notification.payload.get("text", ""), 70)

    @admin.display(description=gettext_lazy("message"))
    def message_text(self, notification):
        return notification.payload.get("text", "")

    @admin.display(description=gettext_lazy("link"))
    def link(self, notification):
        return notification.payload.get("url") or "—"

    @admin.display(description=gettext_lazy("last error"), ordering="last_error")
    def error(self, notification):
        return short_text(notification.last_error, 40)

    @admin.action(description=gettext_lazy("Retry now (failed messages only)"), permissions=["retry"])
    def retry_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = delivery.retry_now(ids, timezone.now(), actor=request.user)
        skipped = len(ids) - count
        text = gettext("%(count)s messages will be sent again by the next delivery sweep.") % {"count": count}
        if skipped > 0:
            text += " " + gettext("%(count)s selected were not failed and are unchanged.") % {"count": skipped}
        self.message_user(request, text, messages.SUCCESS if count else messages.WARNING)
