from django.db import models

from integrations.webhooks import MeetingWebhookEvent


class LiveKitWebhookEvent(MeetingWebhookEvent):
    """Each LiveKit webhook applied, by its event id: a replay or a retry finds its id here and changes nothing."""

    event_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=40)
    room_name = models.CharField(max_length=128)

    class Meta(MeetingWebhookEvent.Meta):
        verbose_name = "LiveKit webhook event"

    def __str__(self) -> str:
        return f"{self.event} {self.room_name} ({self.event_id})"
