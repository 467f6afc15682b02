"""``/calendar/<token>.ics``: a person's calendar feed (meetings.calendar). The token is the only credential, so an
unknown or revoked one is a plain 404 (nothing says whether it ever existed)."""

from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from meetings import calendar


@require_GET
def calendar_feed(request, token: str):
    feed = calendar.find(token)
    if feed is None:
        raise Http404("No such calendar.")
    response = HttpResponse(calendar.build(feed, now=timezone.now()), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="classes.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
