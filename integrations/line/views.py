"""POST /integrations/line/webhook/<slug>/ — one URL per LINE channel: 404 unknown slug; 401 missing or wrong
signature; 400 not LINE's JSON (an object with an events list); 413 too big (nothing written in each case); 200
otherwise, the console's empty "Verify" request, repeats and bodies with events that cannot be read (skipped and
counted as "unreadable", the others applied) included."""

from __future__ import annotations

from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from integrations.line import imagemap, webhooks
from integrations.line.models import LineChannel
from integrations.webhooks import BadWebhook, webhook_body, webhook_error


@csrf_exempt
@require_POST
def webhook(request, slug: str):
    channel = LineChannel.objects.filter(slug=slug).first()
    if channel is None:
        raise Http404("no LINE channel with this slug")
    try:
        body = webhook_body(request)
        outcomes = webhooks.receive(channel, body, request.headers.get("x-line-signature", ""), now=timezone.now())
    except BadWebhook as exc:
        return webhook_error(exc, "line")
    return JsonResponse({"status": "ok", "events": outcomes})


@require_GET
def imagemap_image(request, kind: str, width: int):
    """GET /integrations/line/imagemap/<kind>/<width>: the image LINE shows for a join or feedback imagemap."""
    try:
        data = imagemap.png(kind, width)
    except KeyError as exc:
        raise Http404(str(exc)) from exc
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response
