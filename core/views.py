"""The first page (``/``) and ``/healthz`` (whether the database answers and the sweeps run, for a load balancer or
an uptime check)."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.log import log_response

from core import runner

HEALTHY_SWEEP_AGE_SECONDS = 180


def home(request):
    """``/``: staff go to the admin; everyone else gets a short page saying what this is, with the login and the API
    docs (the admin's "View site" and the login's default redirect lead here too)."""
    if request.user.is_active and request.user.is_staff:
        return redirect("admin:index")
    return render(request, "core/home.html")


def healthz(request):
    """200 while the database answers and a sweep completed in the last 3 minutes; 503 otherwise."""
    now = timezone.now()
    try:
        last, clock = runner.heartbeats()  # (answered: the database is up)
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
    response = JsonResponse(body, status=200 if healthy else 503)
    if not healthy:
        # Django logs every 5xx as an ERROR. Before the first sweep (the cluster just started, or is not there yet) a
        # 503 is expected: info; stale sweeps are worth a look: a warning. Logged here, so Django does not again.
        level = "info" if last is None else "warning"
        log_response(
            "Service Unavailable: %s (%s)",
            request.path,
            body["status"],
            response=response,
            request=request,
            level=level,
        )
    return response
