"""Settings of H1's gunicorn (bench/http.py): the production settings, plus the benchmark's "floor" URL.

Only the benchmark names this module (``DJANGO_SETTINGS_MODULE=bench.http_settings``); production's URLconf
(config.urls) has no floor, so it can never be reached there.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.http_urls"
