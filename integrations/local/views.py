"""The local provider's room page: enter (records a session), leave (ends it)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from classroom.models import Student
from integrations.local.provider import read_token
from meetings.attendance import record_session, teacher_joined
from meetings.models import Meeting, MeetingParticipant


@require_http_methods(["GET", "POST"])
def room(request, name: str):
    meeting = get_object_or_404(Meeting.objects.select_related("teacher"), room_name=name)
    claims = read_token(request.GET.get("t", ""))
    now = timezone.now()
    if claims is None or claims.get("m") != meeting.pk:
        return render(
            request,
            "integrations/local_room.html",
            {"meeting": meeting, "error": "This link is not valid."},
            status=403,
        )
    if not (claims["nbf"] <= now.timestamp() < claims["exp"]) or meeting.state in (
        Meeting.State.CLOSED,
        Meeting.State.CANCELLED,
    ):
        return render(
            request,
            "integrations/local_room.html",
            {"meeting": meeting, "error": "This room is not open for you right now."},
            status=403,
        )
    open_session = MeetingParticipant.objects.filter(
        meeting=meeting, source=MeetingParticipant.Source.LOCAL, identity=claims["i"], left_at__isnull=True
    ).first()
    if request.method == "POST":  # leave
        if open_session:
            record_session(
                meeting,
                source=open_session.source,
                session_key=open_session.session_key,
                identity=open_session.identity,
                role=open_session.role,
                joined_at=open_session.joined_at,
                left_at=now,
            )
        return HttpResponse("You left the room. You can close this page.", content_type="text/plain")
    if open_session is None:
        kind, _, pk = claims["i"].partition(":")
        record_session(
            meeting,
            source=MeetingParticipant.Source.LOCAL,
            session_key=f"{claims['i']}@{now.timestamp():.3f}",
            identity=claims["i"],
            role=claims["r"],
            joined_at=now,
            display_name=claims.get("n", ""),
            teacher=meeting.teacher if kind == "teacher" else None,
            student=Student.objects.filter(pk=pk).first() if kind == "student" else None,
        )
        if claims["r"] == "teacher":
            teacher_joined(meeting, now=now)
    return render(request, "integrations/local_room.html", {"meeting": meeting, "name": claims.get("n", "")})
