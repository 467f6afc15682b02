"""Pages reached from the links in students' messages, and the health check."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from bookings.models import Appointment, Booking
from bookings.transitions import record_feedback
from meetings import links
from meetings.access import JoinRefused, credentials_for


def _appointment(token: str, salt: str) -> Appointment | None:
    appointment_id = links.read(token, salt)
    if appointment_id is None:
        return None
    return (
        Appointment.objects.select_related("booking", "student", "meeting", "meeting__teacher")
        .filter(pk=appointment_id)
        .first()
    )


def join_link(request, token: str):
    """The join link from a message: checks the window at this second, then sends the student into the room."""
    appointment = _appointment(token, links.JOIN_SALT)
    if appointment is None:
        return render(request, "meetings/message.html", {"message": "This link is not valid."}, status=404)
    if appointment.booking.status != Booking.Status.CONFIRMED:
        return render(
            request, "meetings/message.html", {"message": f"Your booking is {appointment.booking.status}."}, status=403
        )
    try:
        credentials = credentials_for(appointment.meeting, appointment.student, "student", timezone.now())
    except JoinRefused as exc:
        return render(
            request,
            "meetings/message.html",
            {"meeting": appointment.meeting, "message": f"You cannot join yet: {exc}."},
            status=403,
        )
    return HttpResponseRedirect(credentials.url)


@require_http_methods(["GET", "POST"])
def feedback_link(request, token: str):
    appointment = _appointment(token, links.FEEDBACK_SALT)
    if appointment is None:
        return render(request, "meetings/message.html", {"message": "This link is not valid."}, status=404)
    booking = appointment.booking
    if request.method == "POST":
        try:
            rating = int(request.POST.get("rating", ""))
            record_feedback(booking, rating=rating, comment=request.POST.get("comment", ""), now=timezone.now())
        except ValueError:
            return render(
                request,
                "meetings/feedback.html",
                {"meeting": appointment.meeting, "error": "Choose a rating from 1 to 5."},
                status=400,
            )
        return render(
            request,
            "meetings/message.html",
            {"meeting": appointment.meeting, "message": "Thank you for your feedback!"},
        )
    return render(request, "meetings/feedback.html", {"meeting": appointment.meeting, "booking": booking})


HEALTHY_SWEEP_AGE_SECONDS = 180


def healthz(request):
    """200 while the database answers and a sweep completed in the last 3 minutes; 503 otherwise."""
    from django.db import connection
    from django.http import JsonResponse

    from meetings import stats

    now = timezone.now()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        last, clock = stats.last_sweep(), stats.clock_heartbeat()
    except Exception as exc:
        return JsonResponse({"status": "error", "database": f"unreachable: {type(exc).__name__}"}, status=503)
    age = None if last is None else (now - last).total_seconds()
    clock_age = None if clock is None else (now - clock).total_seconds()
    healthy = age is not None and age <= HEALTHY_SWEEP_AGE_SECONDS
    body = {
        "status": "ok" if healthy else "stale",
        "database": "ok",
        "last_sweep_age_seconds": None if age is None else round(age, 1),
        "cluster": "alive" if clock_age is not None and clock_age <= HEALTHY_SWEEP_AGE_SECONDS else "not seen",
        "clock_age_seconds": None if clock_age is None else round(clock_age, 1),
    }
    return JsonResponse(body, status=200 if healthy else 503)
