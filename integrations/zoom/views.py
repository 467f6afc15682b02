"""POST /integrations/zoom/webhook/ — Zoom's webhook: 401 unsigned, wrongly signed, stale or with forged headers
(nothing written), 400 malformed (a NUL or a lone surrogate included), 413 too big; the URL validation challenge is
answered; 200 otherwise (a repeat or an unknown meeting is answered 200 and changes nothing)."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.webhooks import BadWebhook, webhook_body, webhook_error
from integrations.zoom import webhooks


@csrf_exempt
@require_POST
def webhook(request):
    try:
        body = webhook_body(request)
        answer = webhooks.receive(
            body,
            timestamp=request.headers.get("x-zm-request-timestamp", ""),
            signature=request.headers.get("x-zm-signature", ""),
            now=timezone.now(),
        )
    except BadWebhook as exc:
        return webhook_error(exc, "zoom")
    return JsonResponse(answer)
