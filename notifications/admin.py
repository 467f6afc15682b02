from django.contrib import admin, messages
from django.utils import timezone

from core.admin_utils import ReadOnlyAdmin, permission_check
from notifications import delivery
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The outbox: what was sent to whom, what is waiting and why; "retry now" gives failed rows another go."""

    list_display = [
        "id",
        "kind",
        "channel",
        "line_channel",
        "state",
        "address",
        "meeting",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["state", "kind", "channel", "line_channel", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "address", "=meeting__id", "dedupe_key"]
    date_hierarchy = "created_at"
    list_select_related = ["meeting", "line_channel"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["retry_now"]
    # The outbox is read-only (has_change_permission is always False), so "retry" checks the model's change
    # permission itself.
    has_retry_permission = permission_check("notifications.change_notification")

    @admin.action(description="Retry now (failed messages only)", permissions=["retry"])
    def retry_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = delivery.retry_now(ids, timezone.now(), actor=request.user)
        skipped = len(ids) - count
        text = f"{count} messages will be sent again by the next delivery sweep."
        if skipped > 0:
            text += f" {skipped} selected were not failed and are unchanged."
        self.message_user(request, text, messages.SUCCESS if count else messages.WARNING)
