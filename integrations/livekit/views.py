"""POST /integrations/livekit/webhook/ — LiveKit's webhook: 401 unsigned, wrongly signed or signed with a key that is
neither LIVEKIT_API_KEY nor one of LIVEKIT_WEBHOOK_KEYS (nothing written), 400 malformed, 413 too big, 200 otherwise
(a replay or an unknown room is answered 200 and changes nothing)."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.livekit.client import InvalidSignature, LiveKitClient
from integrations.livekit.webhooks import apply_event
from integrations.webhooks import BadWebhook, webhook_body, webhook_error, webhook_json


@csrf_exempt
@require_POST
def webhook(request):
    try:
        body = webhook_body(request)
        try:
            LiveKitClient().verify_webhook(body, request.headers.get("Authorization", ""))
        except InvalidSignature as exc:
            raise BadWebhook(401, f"signature: {exc}") from exc
        outcome = apply_event(webhook_json(body), now=timezone.now())
    except BadWebhook as exc:
        return webhook_error(exc, "livekit")
    return JsonResponse({"status": outcome})
