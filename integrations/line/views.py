"""The LINE pages: the webhook, the account-link page and the imagemap images.

POST /integrations/line/webhook/<slug>/ — one URL per LINE channel: 404 unknown slug; 401 missing or wrong
signature; 400 not LINE's JSON (an object with an events list); 413 too big (nothing written in each case); 200
otherwise, the console's empty "Verify" request, repeats and bodies with events that cannot be read (skipped and
counted as "unreadable", the others applied) included."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from integrations.line import imagemap, linking, webhooks
from integrations.line.models import LineChannel
from integrations.webhooks import serve


@csrf_exempt
@require_POST
def webhook(request, slug: str):
    return serve(
        request,
        "line",
        LineChannel.objects.filter(slug=slug).first(),
        lambda channel, body: {
            "events": webhooks.receive(channel, body, request.headers.get("x-line-signature", ""), now=timezone.now())
        },
    )


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


@require_GET
def account_link(request, slug: str):
    """GET /integrations/line/link/<slug>/?linkToken=...: the page the chat's link button opens. It needs a login
    (the student's account: a parent uses their child's); then the person says who uses the LINE account, and is
    sent to LINE's account-link dialog with a fresh nonce."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=LOGIN_URL)
    link_token = request.GET.get("linkToken", "")
    role = request.GET.get("role", "")
    student = getattr(request.user, "student", None)
    if not role and student is not None:
        context = {
            "student": student,
            "query_student": urlencode({"linkToken": link_token, "role": linking.Role.STUDENT}),
            "query_guardian": urlencode({"linkToken": link_token, "role": linking.Role.GUARDIAN}),
        }
        return render(request, "integrations/line/link.html", context)
    try:
        url = linking.start_account_link(
            request.user, slug, link_token, role=role or linking.Role.STUDENT, now=timezone.now()
        )
    except DomainError as exc:
        return render(request, "integrations/line/link.html", {"error": exc.message}, status=exc.http_status)
    return HttpResponseRedirect(url)


# People log in on the API's session login page (students have no admin access).
LOGIN_URL = "/api/auth/login/"
