from django.contrib import admin

from classroom.admin_utils import ReadOnlyAdmin
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "channel",
        "state",
        "address",
        "meeting",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["state", "kind", "channel", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "address", "=meeting__id", "dedupe_key"]
    date_hierarchy = "created_at"
    list_select_related = ["meeting"]
    readonly_fields = [f.name for f in Notification._meta.fields]
