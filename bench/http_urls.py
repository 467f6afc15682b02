"""H1's URLconf (bench/http_settings.py): every URL of the app, plus ``/bench/floor/``.

The floor is a plain Django view returning a constant JSON through the same stack (gunicorn, every middleware,
the URL resolver): what a request costs on this machine before the app does anything. H1 compares each endpoint
with it in the same run.
"""

from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as app_urlpatterns

FLOOR_PATH = "/bench/floor/"


def floor(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path(FLOOR_PATH.strip("/") + "/", floor, name="bench-floor"), *app_urlpatterns]
