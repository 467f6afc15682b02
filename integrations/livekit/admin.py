from django.contrib import admin

from core.admin_utils import ReadOnlyAdmin
from integrations.livekit.models import LiveKitWebhookEvent


@admin.register(LiveKitWebhookEvent)
class LiveKitWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "room_name", "meeting", "event_id"]
    list_filter = ["event"]
    search_fields = ["room_name", "event_id"]
