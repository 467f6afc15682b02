from django.db import models
from django.utils.translation import gettext_lazy as _

from integrations.webhooks import MeetingWebhookEvent


class LiveKitWebhookEvent(MeetingWebhookEvent):
    """Each LiveKit webhook applied, by its event id: a replay or a retry finds its id here and changes nothing."""

    event_id = models.CharField(max_length=100, unique=True, verbose_name=_("event id"))
    event = models.CharField(max_length=40, verbose_name=_("event"))
    room_name = models.CharField(max_length=128, verbose_name=_("room name"))

    class Meta(MeetingWebhookEvent.Meta):
        verbose_name_plural = _("LiveKit webhook events")
        verbose_name = _("LiveKit webhook event")

    def __str__(self) -> str:
        return f"{self.event} {self.room_name} ({self.event_id})"
