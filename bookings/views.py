"""The pages the links in students' messages lead to: join (/j/<token>/) and feedback (/feedback/<token>/)."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from bookings import links
from bookings.models import Appointment
from bookings.transitions import (
    FEEDBACK_ALREADY_GIVEN,
    FEEDBACK_EXPIRED,
    FEEDBACK_NOT_ALLOWED,
    check_feedback,
    record_feedback,
)
from core.errors import IllegalTransition
from meetings.access import JoinRefused


def _with_everything(appointment_id: int) -> Appointment | None:
    """The appointment with its booking, student, meeting and teacher (the feedback page shows them)."""
    try:
        # get(), not first(): one row by its key needs no ORDER BY (compiling one cost a click a fifth of its time).
        return Appointment.objects.select_related("booking", "student", "meeting", "meeting__teacher").get(
            pk=appointment_id
        )
    except Appointment.DoesNotExist:
        return None


def _appointment(token: str, salt: str, read=_with_everything) -> Appointment | None:
    """The link's appointment, by ``read`` (the click has its own narrow one); None for a link not ours."""
    appointment_id = links.read(token, salt)
    return None if appointment_id is None else read(appointment_id)


def _page(request, message: str, *, status: int, meeting=None):
    return render(request, "bookings/message.html", {"meeting": meeting, "message": message}, status=status)


def _not_ours(request):
    return _page(request, _("This link is not valid."), status=404)


def join_link(request, token: str):
    """The join link from a message: checks the window at this second, then sends the student into the room."""
    appointment = _appointment(token, links.JOIN_SALT, links.clicked)
    if appointment is None:
        return _not_ours(request)
    try:
        credentials = links.join(appointment, timezone.now())
    except links.LinkExpired as exc:
        return _page(request, exc.message, status=410, meeting=appointment.meeting)
    except JoinRefused as exc:
        message = _("You cannot join: %(reason)s.") % {"reason": exc.message}
        return _page(request, message, status=403, meeting=appointment.meeting)
    return HttpResponseRedirect(credentials.url)


# How each refusal of feedback answers: the link's time is over (410), it was given already (409), not for this
# booking (403).
FEEDBACK_REFUSAL_STATUS = {FEEDBACK_EXPIRED: 410, FEEDBACK_ALREADY_GIVEN: 409, FEEDBACK_NOT_ALLOWED: 403}


def _rating(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
def feedback_link(request, token: str):
    """The feedback link from a message: the form (GET) and the answer (POST), taken once, within its deadline."""
    appointment = _appointment(token, links.FEEDBACK_SALT)
    if appointment is None:
        return _not_ours(request)
    booking, meeting, now = appointment.booking, appointment.meeting, timezone.now()
    try:
        if request.method == "POST":
            record_feedback(
                booking,
                rating=_rating(request.POST.get("rating")),
                comment=request.POST.get("comment", ""),
                now=now,
                actor=f"{appointment.student.display_name} (feedback link)",
            )
        else:
            check_feedback(booking, meeting, now=now)
    except IllegalTransition as exc:
        return _page(request, exc.message, status=FEEDBACK_REFUSAL_STATUS.get(exc.code, 403), meeting=meeting)
    except ValueError:
        context = {"meeting": meeting, "error": _("Choose a rating from 1 to 5.")}
        return render(request, "bookings/feedback.html", context, status=400)
    if request.method == "POST":
        return _page(request, _("Thank you for your feedback!"), status=200, meeting=meeting)
    return render(request, "bookings/feedback.html", {"meeting": meeting, "booking": booking})
