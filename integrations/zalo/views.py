"""POST /integrations/zalo/webhook/<slug>/ — one URL per Zalo channel: 404 unknown slug; 401 missing or wrong
signature (or an event of another app); 400 not JSON; 413 too big (nothing written in each case); 200 otherwise."""

from __future__ import annotations

from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.webhooks import serve
from integrations.zalo import webhooks
from integrations.zalo.models import ZaloChannel


@csrf_exempt
@require_POST
def webhook(request, slug: str):
    return serve(
        request,
        "zalo",
        ZaloChannel.objects.filter(slug=slug).first(),
        lambda channel, body: {
            "outcome": webhooks.receive(
                channel, body, request.headers.get("x-zevent-signature", ""), now=timezone.now()
            )
        },
    )
