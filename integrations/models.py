"""Models of the outside-service packages, gathered under the ``integrations`` app label."""

from integrations.line.models import LineChannel, LineWebhookEvent
from integrations.livekit.models import LiveKitWebhookEvent
from integrations.zalo.models import ZaloChannel, ZaloMessage, ZaloTemplate
from integrations.zoom.models import ZoomAccount, ZoomWebhookEvent

__all__ = [
    "LineChannel",
    "LineWebhookEvent",
    "LiveKitWebhookEvent",
    "ZaloChannel",
    "ZaloMessage",
    "ZaloTemplate",
    "ZoomAccount",
    "ZoomWebhookEvent",
]
