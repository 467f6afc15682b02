"""The local provider's room page: GET enters (starts or continues a session), POST ``action=heartbeat`` says the
page is still open, POST ``action=leave`` (the Leave button, or the page being closed) ends the session. Every
request checks the room token (signature, meeting, ``nbf``/``exp``) and writes nothing when it fails."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from integrations.local.provider import enter_room, leave_room, read_token, token_in_force
from meetings.access import JoinRefused
from meetings.models import Meeting

TEMPLATE = "integrations/local_room.html"


@require_http_methods(["GET", "POST"])
def room(request, name: str):
    meeting = get_object_or_404(Meeting.objects.select_related("teacher"), room_name=name)
    claims = read_token(request.GET.get("t", ""))
    now = timezone.now()
    if claims is None or claims.get("m") != meeting.pk:
        return render(request, TEMPLATE, {"meeting": meeting, "error": _("This link is not valid.")}, status=403)
    if not token_in_force(claims, meeting, now):
        error = _("This room is not open for you right now.")
        return render(request, TEMPLATE, {"meeting": meeting, "error": error}, status=403)
    # A page opened before heartbeats existed posts its Leave form without an action.
    action = request.POST.get("action", "leave") if request.method == "POST" else "enter"
    if action == "leave":
        leave_room(meeting, claims, now=now)
        return HttpResponse(_("You left the room. You can close this page."), content_type="text/plain")
    if action not in ("enter", "heartbeat"):
        return HttpResponseBadRequest(_("Unknown action: use heartbeat or leave."), content_type="text/plain")
    try:
        enter_room(meeting, claims, now=now)
    except JoinRefused as exc:
        return render(request, TEMPLATE, {"meeting": meeting, "error": str(exc)}, status=403)
    if action == "heartbeat":
        return JsonResponse({"in_room": True, "heartbeat_seconds": settings.LOCAL_HEARTBEAT_SECONDS})
    context = {"meeting": meeting, "name": claims.get("n", ""), "heartbeat_seconds": settings.LOCAL_HEARTBEAT_SECONDS}
    return render(request, TEMPLATE, context)
