from django.contrib import admin

from core.admin_utils import ReadOnlyAdmin
from integrations.livekit.models import LiveKitWebhookEvent


@admin.register(LiveKitWebhookEvent)
class LiveKitWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "room_name", "meeting", "event_id"]
    fields = ["event_id", "event", "room_name", "meeting", "received_at"]
    list_filter = ["event"]
    search_fields = ["room_name", "event_id"]
