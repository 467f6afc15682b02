import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from bookings import transitions as booking_transitions
from bookings.models import Booking
from classroom.models import Student
from core.admin_utils import requires_permission
from core.errors import DomainError
from core.models import HISTORY_STATE_WORDS, SweepHeartbeat
from core.money import format_money
from core.timezones import format_local
from meetings import review, stats
from meetings.charts import bar_chart
from meetings.models import Meeting, MeetingParticipant


@requires_permission("meetings.view_meeting", "meetings.change_meeting")  # change implies view, as in Django
def lifecycle_dashboard(request):
    now = timezone.now()
    days = stats.daily(now, 7)
    labels = [f"{d.day:%m-%d}" for d in days]
    charts = [
        bar_chart(
            _("Classes opened and closed per day (UTC)"),
            _("classes"),
            labels,
            [(_("opened"), "opened", [d.opened for d in days]), (_("closed"), "closed", [d.closed for d in days])],
        ),
        bar_chart(
            _("Open lateness per day: seconds after the start"),
            _("s"),
            labels,
            [
                (_("mean"), "mean", [d.lateness_mean for d in days]),
                (_("max"), "max", [d.lateness_max for d in days]),
            ],
        ),
    ]
    context = {
        **admin.site.each_context(request),
        "title": _("Lifecycle: what happened and what fires next"),
        "now": now,
        "days": days,
        "charts": charts,
        "upcoming": stats.what_fires_next(now),
        "heartbeats": SweepHeartbeat.objects.order_by("name"),
        "failures": stats.open_failures(),
    }
    return TemplateResponse(request, "admin/meetings/lifecycle.html", context)


# --- the no-show review queue (/admin/meetings/meeting/review/) -------------------------------------------------------


def _parse(value):
    return dt.datetime.fromisoformat(value) if value else None


# A session's role in the timeline, in the reader's language (the stored value in English).
ROLE_WORDS = {"teacher": gettext_lazy("teacher"), "student": gettext_lazy("student"), "other": gettext_lazy("other")}


def attendance_timeline(meeting) -> list[dict]:
    """Every recorded session of the meeting, plus the teacher sessions the verdict took from the provider's own
    report when we never recorded them, each with its join and leave in UTC and in the teacher's zone."""
    zone = meeting.teacher.time_zone
    rows = [
        {
            "who": p.display_name or p.identity,
            "role": ROLE_WORDS.get(p.role, p.role),
            "joined_at": p.joined_at,
            "left_at": p.left_at,
            "source": p.get_source_display(),
            "key": p.session_key,
        }
        for p in MeetingParticipant.objects.filter(meeting=meeting).order_by("joined_at", "id")
    ]
    recorded_keys = {row["key"] for row in rows}
    for session in (meeting.attendance_evidence or {}).get("sessions", []):
        if session.get("session_key") not in recorded_keys:
            rows.append(
                {
                    "who": meeting.teacher.display_name,
                    "role": ROLE_WORDS["teacher"],
                    "joined_at": _parse(session["joined_at"]),
                    "left_at": _parse(session.get("left_at")),
                    "source": session.get("source", ""),
                    "key": session.get("session_key", ""),
                }
            )
    rows.sort(key=lambda row: row["joined_at"])
    for row in rows:
        row["joined_local"] = format_local(row["joined_at"], zone, "%Y-%m-%d %H:%M:%S")
        row["left_local"] = format_local(row["left_at"], zone, "%Y-%m-%d %H:%M:%S") if row["left_at"] else _("still in")
    return rows


def _payout_money(payout) -> dict:
    if payout is None:
        return {}
    return {key: format_money(getattr(payout, key), payout.currency) for key in ("gross", "commission", "net")}


@requires_permission("meetings.review_meeting")
def review_queue(request):
    return _review_page(request)


def _review_page(request, *, kept: dict | None = None, status: int = 200):
    """The queue. ``kept`` is a refused decision's form ({"meeting_id", "note", "percent", "error"}): shown again
    on its class with what was typed, so the reviewer fixes it instead of typing it again."""
    kept = kept or {}
    meetings = list(review.awaiting_review())
    bookings: dict[int, list] = {}
    for booking in Booking.objects.filter(meeting__in=meetings).select_related("student").order_by("id"):
        booking.amount_shown = format_money(booking.amount, booking.currency)
        booking.status_words = HISTORY_STATE_WORDS.get(booking.status, booking.status)
        bookings.setdefault(booking.meeting_id, []).append(booking)
    items = [
        {
            "meeting": m,
            "closed_local": format_local(m.closed_at, m.teacher.time_zone),
            "timeline": attendance_timeline(m),
            "bookings": bookings.get(m.pk, []),
            "payout": getattr(m, "payout", None),
            "money": _payout_money(getattr(m, "payout", None)),
            "kept": kept if kept.get("meeting_id") == m.pk else {},
        }
        for m in meetings
    ]
    context = {
        **admin.site.each_context(request),
        "title": gettext_lazy("Review queue: classes whose teacher was not seen"),
        "items": items,
        "decisions": [
            ("release", _("Release (teacher attended)")),
            ("no_show", _("Confirm no-show")),
            ("excuse", _("Excuse")),
        ],
    }
    return TemplateResponse(request, "admin/meetings/review_queue.html", context, status=status)


@require_POST
@requires_permission("meetings.review_meeting")
def review_decide(request, meeting_id: int):
    """Thin: one call to ``meetings.review.decide``; the outcome or the refusal comes back as a message."""
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    note, percent = request.POST.get("note", ""), request.POST.get("percent", "")
    try:
        outcome = review.decide(
            meeting,
            request.POST.get("decision", ""),
            now=timezone.now(),
            actor=request.user,
            note=note,
            percent=percent or None,
        )
    except DomainError as exc:
        # Re-rendered, not redirected: the note typed stays in its box beside the reason for the refusal.
        messages.error(request, f"{meeting}: {exc}")
        kept = {"meeting_id": meeting.pk, "note": note, "percent": percent, "error": str(exc)}
        return _review_page(request, kept=kept, status=400)
    else:
        level = messages.SUCCESS if outcome.changed else messages.WARNING
        messages.add_message(request, level, f"{meeting}: {outcome.message}")
    return redirect("admin:meetings_review_queue")


# --- booking a student who phones in (/admin/meetings/meeting/<id>/book/) ---------------------------------------------


class BookStudentForm(forms.Form):
    student = forms.ModelChoiceField(
        queryset=Student.objects.all(),
        label=gettext_lazy("Student"),
        widget=AutocompleteSelect(Booking._meta.get_field("student"), admin.site),
        help_text=gettext_lazy("Search by name, e-mail or LINE id."),
    )


def _class_times(meeting, tz_name: str) -> str:
    return f"{format_local(meeting.start_time, tz_name)} – {format_local(meeting.end_time, tz_name, '%H:%M')}"


@requires_permission("bookings.add_booking")
def book_student(request, meeting_id: int):
    """Staff book a seat for a student (the one on the phone): choose the student, see what will happen, confirm.
    Thin: the confirmed form calls ``bookings.transitions.book`` with the staff member as the actor, so capacity,
    the booking window and the history are the same as when the student books themselves."""
    meeting = get_object_or_404(Meeting.objects.select_related("teacher", "course"), pk=meeting_id)
    form = BookStudentForm(request.POST or None)
    confirming, student = False, None
    if request.method == "POST" and form.is_valid():
        student = form.cleaned_data["student"]
        if "confirm" in request.POST:
            try:
                booking = booking_transitions.book(student, meeting, now=timezone.now(), actor=request.user)
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("%(student)s is booked into %(meeting)s (booking %(booking)s).")
                    % {"student": student, "meeting": meeting, "booking": booking.pk},
                )
                return redirect("admin:meetings_meeting_change", meeting.pk)
        else:
            confirming = True
            form.fields["student"].widget = forms.HiddenInput()
    context = {
        **admin.site.each_context(request),
        "title": _("Book a student into %(meeting)s") % {"meeting": meeting},
        "meeting": meeting,
        "opts": Meeting._meta,
        "form": form,
        "media": form.media,
        "confirming": confirming,
        "student": student,
        "teacher_times": _class_times(meeting, meeting.teacher.time_zone),
        "student_times": _class_times(meeting, student.time_zone) if student else "",
        "price": format_money(meeting.course.price, meeting.course.currency),
        "seats_left": max(meeting.capacity - meeting.seats_taken, 0),
    }
    return TemplateResponse(request, "admin/meetings/meeting/book_student.html", context)
