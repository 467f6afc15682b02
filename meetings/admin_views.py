from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from meetings import stats


def lifecycle_dashboard(request):
    now = timezone.now()
    context = {
        **admin.site.each_context(request),
        "title": "Lifecycle: what happened and what fires next",
        "now": now,
        "days": stats.daily(now, 7),
        "upcoming": stats.what_fires_next(now),
        "heartbeats": stats.SweepHeartbeat.objects.order_by("name"),
        "failures": stats.open_failures(),
    }
    return TemplateResponse(request, "admin/meetings/lifecycle.html", context)
