"""Playing a recording: ``/recordings/<meeting id>/`` (the link in the "recording ready" message; log in first) sends
the person on to a fresh play link, and ``/recordings/play/<token>/`` streams the file from the recordings storage.
Both decide who may play at request time (meetings.recordings.entitled); there is no public file URL. Someone not
entitled gets a 404, so a recording's existence does not leak."""

from __future__ import annotations

import mimetypes

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from meetings import recordings
from meetings.models import Meeting


@require_GET
def recording_page(request, meeting_id: int):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), "/api/auth/login/")
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    if not recordings.entitled(meeting, request.user):
        raise Http404("No such recording.")
    # The video if there is one, else whatever is ready (an audio-only class).
    ready = sorted(recordings.playable(meeting), key=lambda r: (r.kind != "video", r.pk))
    if not ready:
        raise Http404("No such recording.")
    url, _expires = recordings.play_url(ready[0], request.user, now=timezone.now())
    return HttpResponseRedirect(url)


@require_GET
def play(request, token: str):
    try:
        recording = recordings.open_for_play(token, request.user)
    except recordings.PlayRefused as exc:
        if exc.status == 404:
            raise Http404(str(exc.reason)) from None
        return HttpResponse(str(exc.reason), status=exc.status, content_type="text/plain; charset=utf-8")
    content_type = mimetypes.guess_type(recording.file.name)[0] or "application/octet-stream"
    response = FileResponse(recording.file.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
