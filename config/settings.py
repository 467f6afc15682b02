"""Settings, read from the environment (and an optional .env file) through django-environ only.

Every variable is listed with its default and meaning in .env.example. A bad value does not crash here: it is
collected in ``SETTINGS_ERRORS`` and reported by the system check in ``config.checks`` naming the variable.
"""

import re
from pathlib import Path

import environ

from config.env import EnvReader

BASE_DIR = Path(__file__).resolve().parent.parent

_env_file = environ.Env.str(environ.Env(), "ENV_FILE", default=str(BASE_DIR / ".env"))
if Path(_env_file).is_file():
    environ.Env.read_env(_env_file)

env = EnvReader()

# Off unless asked for: `make run` and the tests ask through config/settings_dev.py.
DEBUG = env.bool("DEBUG", False)
# Signs sessions and the join links in students' messages. No default: config.E002 stops start-up when it is unset
# or, with DEBUG off, the published development key or shorter than 50 characters (config/checks.py).
SECRET_KEY = env.str("SECRET_KEY", "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
# Where people reach this app; join and feedback links in messages are built on it.
PUBLIC_BASE_URL = env.url("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_q",
    "core",
    "classroom",
    "meetings",
    "bookings",
    "notifications",
    "integrations",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Each request in its reader's language: the admin's language chooser (a session/cookie), else Accept-Language
    # (the API too). After sessions (it reads the choice there), before CommonMiddleware (README, "Languages").
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A staff member's teacher/student record's language in the admin, unless they chose one (core/i18n.py).
    "core.i18n.PersonLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if not DEBUG:
    # Static files straight from the WSGI app (gunicorn needs no separate static server), out of STATIC_ROOT: right
    # after the security middleware, so HTTPS redirects and HSTS still apply. With DEBUG on, runserver serves them.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- HTTPS (README, "Production settings"): on by default when DEBUG is off -------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, maximum=2 * 365 * 24 * 3600)
# Opt-in: subdomains must all serve https first, and with preload anyone may submit the domain to browsers' lists.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", not DEBUG)
# Behind a proxy that terminates TLS: the header it sets and the value meaning https, e.g. HTTP_X_FORWARDED_PROTO,https.
# Unset behind such a proxy, SECURE_SSL_REDIRECT redirects forever; set without one, clients can claim https.
SECURE_PROXY_SSL_HEADER = None
_proxy_header = env.list("SECURE_PROXY_SSL_HEADER", [])
if len(_proxy_header) == 2 and re.fullmatch(r"HTTP_[A-Z0-9_]+", _proxy_header[0]):
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)
elif _proxy_header:
    env.error(
        "SECURE_PROXY_SSL_HEADER",
        f"must be a request header and its value, like HTTP_X_FORWARDED_PROTO,https; got {','.join(_proxy_header)!r}",
    )

# --- Database ------------------------------------------------------------------------------------------------------
DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_sqlite = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# Persistent connections (README, "Database connections"): each web worker and cluster process keeps its connection
# for this many seconds instead of opening one per request, which on PostgreSQL cost more than the rest of a small
# request (issue 22: /healthz went from 211 to 772 requests/s). SQLite opens a file: nothing to save, so 0 there.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", 0 if _sqlite else 60, minimum=0, maximum=24 * 3600)
if _sqlite:
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue (for up to `timeout` seconds) instead of one
    # failing with "database is locked" when it upgrades a read lock; django-q2 schedulers need this too.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    # The test database is a file, not memory, so tests can race real processes against it.
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", str(BASE_DIR / ".test-db.sqlite3"))}
else:
    # A kept connection that a database restart broke is replaced at the next request's first query (a cheap check
    # once per request), instead of failing that request.
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# The hot paths' fixed statements are prepared once per kept connection (core.rows.prepared_cursor): planning the
# click's cost four times running it. Off behind a pooler that cannot pass prepared statements (README, "Database
# connections"). Django's own cursors bind on the client: they never prepare.
PREPARED_STATEMENTS = not _sqlite and env.bool("PREPARED_STATEMENTS", True)
if PREPARED_STATEMENTS:
    # psycopg prepares nothing on a connection whose threshold is None (Django's default); prepared_cursor asks for
    # each of its statements explicitly, so the count itself never matters.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Time: UTC in the database, a person's zone only for display and input -------------------------------------------
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("vi", "Tiếng Việt"), ("zh-hant", "繁體中文")]
# Our catalogues (`make messages`): locale/vi and locale/zh_Hant (Django's name for zh-hant), .po and .mo committed.
LOCALE_PATHS = [BASE_DIR / "locale"]
# Each language's own date formats with the zone added ("July 1, 2026, 1 p.m. UTC"): see config/formats/.
FORMAT_MODULE_PATH = ["config.formats"]
# The zone given to a new teacher or student when none is known.
DEFAULT_USER_TIME_ZONE = env.time_zone("DEFAULT_USER_TIME_ZONE", "UTC")

# --- Lifecycle windows (DESIGN.md, "Time") ---------------------------------------------------------------------------
# The windows and money rules marked (policy) are the first policy version's defaults only: at run time they are read
# through classroom.policies, and staff change them with `manage.py policy set` or the admin (README "Policies").
TEACHER_EARLY_JOIN_MINUTES = env.minutes("TEACHER_EARLY_JOIN_MINUTES", 10)  # (policy)
STUDENT_LATE_JOIN_GRACE_MINUTES = env.minutes("STUDENT_LATE_JOIN_GRACE_MINUTES", 10)  # (policy)
MEETING_AUTO_CLOSE_DELAY_MINUTES = env.minutes("MEETING_AUTO_CLOSE_DELAY_MINUTES", 5)  # (policy)
JOIN_LINK_LEAD_MINUTES = env.minutes("JOIN_LINK_LEAD_MINUTES", 10)  # (policy)
FEEDBACK_LINK_LEAD_MINUTES = env.minutes("FEEDBACK_LINK_LEAD_MINUTES", 10)  # (policy)
FEEDBACK_LINK_USEFUL_HOURS = env.int("FEEDBACK_LINK_USEFUL_HOURS", 24, minimum=0, maximum=24 * 30)
# A feedback link takes feedback until this many hours after the class's end; never less than the catch-up window
# above, or a link sent late would already be dead.
FEEDBACK_LINK_VALID_HOURS = env.int("FEEDBACK_LINK_VALID_HOURS", 72, minimum=1, maximum=24 * 90)
if FEEDBACK_LINK_VALID_HOURS < FEEDBACK_LINK_USEFUL_HOURS:
    env.error(
        "FEEDBACK_LINK_VALID_HOURS",
        f"must be at least FEEDBACK_LINK_USEFUL_HOURS ({FEEDBACK_LINK_USEFUL_HOURS}): a feedback link is still sent "
        f"up to that many hours after the end, got {FEEDBACK_LINK_VALID_HOURS}",
    )
# (policy)
TEACHER_MIN_ATTENDANCE_SECONDS = env.int("TEACHER_MIN_ATTENDANCE_SECONDS", 300, minimum=0, maximum=24 * 3600)
ROOM_PROVISION_LOOKAHEAD_MINUTES = env.minutes("ROOM_PROVISION_LOOKAHEAD_MINUTES", 60)
MIN_PARTICIPANTS_CHECK_MINUTES = env.minutes("MIN_PARTICIPANTS_CHECK_MINUTES", 60)
# A class no booked student has joined by the end of the late-join grace closes then (meetings.sweeps). (policy)
CLOSE_EMPTY_CLASSES_EARLY = env.bool("CLOSE_EMPTY_CLASSES_EARLY", True)
BOOKING_CANCELLATION_CUTOFF_MINUTES = env.minutes("BOOKING_CANCELLATION_CUTOFF_MINUTES", 120)  # (policy)
MAX_MEETING_DURATION_MINUTES = env.int("MAX_MEETING_DURATION_MINUTES", 240, minimum=1, maximum=24 * 60)
SWEEP_BATCH_SIZE = env.int("SWEEP_BATCH_SIZE", 500, minimum=1, maximum=10_000)
# The delivery sweep claims this many outbox rows at a time (their calls then run concurrently), and stops claiming
# after DELIVERY_PASS_SECONDS so the clock's next tick (opens, closes) is never held up by a large backlog.
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", 2000, minimum=1, maximum=20_000)
DELIVERY_PASS_SECONDS = env.int("DELIVERY_PASS_SECONDS", 5, minimum=1, maximum=600)
# The join- and feedback-link sweeps stop claiming after this many seconds a pass (a peak minute's 50,000 links are
# made over several clock ticks), so the opens and closes of the next tick never wait behind them.
LINK_PASS_SECONDS = env.int("LINK_PASS_SECONDS", 1, minimum=1, maximum=600)
# Weekly classes (meetings.series): occurrences are made as meetings this many days ahead, and a calendar feed asks
# calendars to refresh it this often (they may still refresh hours late).
SERIES_HORIZON_DAYS = env.int("SERIES_HORIZON_DAYS", 56, minimum=1, maximum=366)
CALENDAR_REFRESH_MINUTES = env.int("CALENDAR_REFRESH_MINUTES", 60, minimum=15, maximum=24 * 60)

# --- Money -----------------------------------------------------------------------------------------------------------
PLATFORM_COMMISSION_RATE = env.decimal("PLATFORM_COMMISSION_RATE", "0.20", minimum="0", maximum="1")  # (policy)
PAYOUT_DISPUTE_HOURS = env.int("PAYOUT_DISPUTE_HOURS", 24, minimum=0, maximum=24 * 90)  # (policy)
LATE_CANCEL_PERCENT = env.decimal("LATE_CANCEL_PERCENT", "100", minimum="0", maximum="100")  # (policy)
# (policy)
STUDENT_ABSENCE_SHARE_PERCENT = env.decimal("STUDENT_ABSENCE_SHARE_PERCENT", "50", minimum="0", maximum="100")

# --- Outside services ------------------------------------------------------------------------------------------------
VIDEO_PROVIDER = env.choice("VIDEO_PROVIDER", "local", ("local", "livekit", "zoom"))
HTTP_TIMEOUT_SECONDS = env.int("HTTP_TIMEOUT_SECONDS", 10, minimum=1, maximum=120)
NOTIFICATION_CHANNEL = env.choice("NOTIFICATION_CHANNEL", "log", ("log", "live"))
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", 8, minimum=1, maximum=100)
STAFF_ALERT_EMAILS = env.list("STAFF_ALERT_EMAILS", [])
_email = env.email("EMAIL_URL", "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
for _key, _value in _email.items():
    if _key != "EMAIL_BACKEND":
        globals()[_key] = _value
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "classroom@localhost")

# --- Video providers (integrations/http.py, integrations/livekit, integrations/zoom) -------------------------------
# The HTTP helper: retries after a transient failure (5xx, 429, timeout), backoff before the first retry (doubling,
# with jitter), and the longest Retry-After waited for inside a call (longer: the call fails and is retried later).
HTTP_RETRIES = env.int("HTTP_RETRIES", 2, minimum=0, maximum=10)
HTTP_RETRY_BACKOFF_MS = env.int("HTTP_RETRY_BACKOFF_MS", 500, minimum=0, maximum=60_000)
HTTP_RETRY_AFTER_MAX_SECONDS = env.int("HTTP_RETRY_AFTER_MAX_SECONDS", 10, minimum=0, maximum=300)
# Webhook bodies larger than this are refused with 413 before they are read.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", 256 * 1024, minimum=1024, maximum=10 * 1024 * 1024)

# The built-in local room (integrations/local): its page sends a heartbeat this often; a session whose heartbeat stopped
# ended at its last heartbeat plus the margin (a closed laptop does not count as present until the close).
LOCAL_HEARTBEAT_SECONDS = env.int("LOCAL_HEARTBEAT_SECONDS", 20, minimum=5, maximum=300)
LOCAL_PRESENCE_MARGIN_SECONDS = env.int("LOCAL_PRESENCE_MARGIN_SECONDS", 90, minimum=10, maximum=3600)
if LOCAL_PRESENCE_MARGIN_SECONDS <= LOCAL_HEARTBEAT_SECONDS:
    env.error(
        "LOCAL_PRESENCE_MARGIN_SECONDS",
        f"must be larger than LOCAL_HEARTBEAT_SECONDS ({LOCAL_HEARTBEAT_SECONDS}), or every heartbeat would arrive "
        f"after its session ended; got {LOCAL_PRESENCE_MARGIN_SECONDS}",
    )

LIVEKIT_URL = env.url("LIVEKIT_URL", "http://127.0.0.1:7880")
LIVEKIT_WS_URL = env.url("LIVEKIT_WS_URL", "", schemes=("ws", "wss")) or "ws" + LIVEKIT_URL.removeprefix("http")
LIVEKIT_API_KEY = env.str("LIVEKIT_API_KEY", "")
LIVEKIT_API_SECRET = env.str("LIVEKIT_API_SECRET", "")
LIVEKIT_JOIN_URL = env.url("LIVEKIT_JOIN_URL", "https://meet.livekit.io/custom")
# More keys webhooks may be signed with ("key:secret,key2:secret2"; key rotation), besides LIVEKIT_API_KEY/SECRET: a
# webhook's secret is looked up by its token's iss. Errors name the entry, never its value (it holds secrets).
LIVEKIT_WEBHOOK_KEYS: dict[str, str] = {}
for _number, _pair in enumerate(env.list("LIVEKIT_WEBHOOK_KEYS", []), start=1):
    _key, _colon, _secret = (_part.strip() for _part in _pair.partition(":"))
    _known = LIVEKIT_API_SECRET if _key and _key == LIVEKIT_API_KEY else LIVEKIT_WEBHOOK_KEYS.get(_key)
    if not (_key and _colon and _secret):
        env.error("LIVEKIT_WEBHOOK_KEYS", f"entry {_number} is not key:secret")
    elif _known is not None and _known != _secret:
        env.error("LIVEKIT_WEBHOOK_KEYS", f"entry {_number} gives key {_key!r} a second, different secret")
    else:
        LIVEKIT_WEBHOOK_KEYS[_key] = _secret
LIVEKIT_ROOM_PREFIX = env.str("LIVEKIT_ROOM_PREFIX", "class-")

ZOOM_API_URL = env.url("ZOOM_API_URL", "https://api.zoom.us")
ZOOM_OAUTH_URL = env.url("ZOOM_OAUTH_URL", "https://zoom.us")
ZOOM_WEBHOOK_SECRET_TOKEN = env.str("ZOOM_WEBHOOK_SECRET_TOKEN", "")
ZOOM_DAILY_REQUEST_LIMIT = env.int("ZOOM_DAILY_REQUEST_LIMIT", 100, minimum=1, maximum=100_000)
ZOOM_BASIC_MAX_MINUTES = env.int("ZOOM_BASIC_MAX_MINUTES", 40, minimum=1, maximum=24 * 60)
ZOOM_START_URL_MAX_AGE_MINUTES = env.int("ZOOM_START_URL_MAX_AGE_MINUTES", 90, minimum=1, maximum=119)
ZOOM_WEBHOOK_MAX_AGE_SECONDS = env.int("ZOOM_WEBHOOK_MAX_AGE_SECONDS", 300, minimum=10, maximum=3600)

# --- Recordings (meetings/recordings.py, README "Recordings") --------------------------------------------------------
# Off: nothing is recorded (Zoom meetings are made with auto_recording "none") and the recording sweeps do nothing.
# On: classes of courses with "record classes" ticked are recorded where the provider can (Zoom cloud recording on
# licensed hosts); the others get a recording row in state "none" with the reason.
RECORDINGS_ENABLED = env.bool("RECORDINGS_ENABLED", False)
# A stored recording is deleted (from our storage and from the provider) this many days after it became ready.
RECORDING_RETENTION_DAYS = env.int("RECORDING_RETENTION_DAYS", 30, minimum=1, maximum=3650)
# A download larger than this is stopped and retried, then failed with the reason (bytes; default 4 GiB).
RECORDING_MAX_BYTES = env.int("RECORDING_MAX_BYTES", 4 * 1024**3, minimum=1024, maximum=1024**4)
# A download taking longer than this in all is stopped (seconds); each read waits at most HTTP_TIMEOUT_SECONDS.
RECORDING_DOWNLOAD_TIMEOUT_SECONDS = env.int("RECORDING_DOWNLOAD_TIMEOUT_SECONDS", 1800, minimum=1, maximum=86400)
# Failed downloads are tried again this many times in all, waiting 60 s, doubling, at most an hour between.
RECORDING_MAX_ATTEMPTS = env.int("RECORDING_MAX_ATTEMPTS", 5, minimum=1, maximum=50)
# No recording webhook this long after the close: ask the provider (Zoom: GET /meetings/{uuid}/recordings).
RECORDING_POLL_AFTER_MINUTES = env.int("RECORDING_POLL_AFTER_MINUTES", 180, minimum=1, maximum=7 * 24 * 60)
# Still nothing this long after the close: the expected recording is failed ("no recording arrived").
RECORDING_GIVE_UP_HOURS = env.int("RECORDING_GIVE_UP_HOURS", 72, minimum=1, maximum=30 * 24)
# A play link (signed, bound to the person) works this many minutes.
RECORDING_PLAY_URL_MINUTES = env.int("RECORDING_PLAY_URL_MINUTES", 10, minimum=1, maximum=24 * 60)
# Delete the provider's copy (Zoom cloud recording, to the trash) once ours is verified.
RECORDING_DELETE_FROM_PROVIDER = env.bool("RECORDING_DELETE_FROM_PROVIDER", False)
# Where stored recordings live: a private folder never served by the web server (MEDIA_URL is not used for them;
# every play goes through the signed play view). Another Django storage backend (django-storages S3) by setting:
# RECORDINGS_STORAGE_BACKEND=storages.backends.s3.S3Storage with RECORDINGS_S3_BUCKET (and _REGION, _ENDPOINT_URL).
RECORDINGS_ROOT = env.str("RECORDINGS_ROOT", str(BASE_DIR / "private" / "recordings"))
RECORDINGS_STORAGE_BACKEND = env.str("RECORDINGS_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
if RECORDINGS_STORAGE_BACKEND.endswith("FileSystemStorage"):
    _recordings_options = {"location": RECORDINGS_ROOT, "base_url": None}
else:
    _recordings_options = {
        "bucket_name": env.str("RECORDINGS_S3_BUCKET", ""),
        "region_name": env.str("RECORDINGS_S3_REGION", "") or None,
        "endpoint_url": env.str("RECORDINGS_S3_ENDPOINT_URL", "") or None,
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
    }
    if not _recordings_options["bucket_name"]:
        env.error(
            "RECORDINGS_S3_BUCKET", f"is required when RECORDINGS_STORAGE_BACKEND is {RECORDINGS_STORAGE_BACKEND}"
        )

if VIDEO_PROVIDER == "livekit":
    for _name in ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        if not globals()[_name]:
            env.error(_name, "is required when VIDEO_PROVIDER=livekit")

# --- Sweeps: every app's, in the order one run applies them (core.runner) -----------------------------------------
# Order matters only for catch-up inside one run (a class whose whole slot passed while nothing ran is opened quietly
# and then closed by the normal close path): the minimum-participants check before opening, opening before the links
# and closing, the attendance poll while the room is still up, closing before ending the room and settling.
SWEEPS = [
    "meetings.series.materialise_series",
    "meetings.sweeps.repin_policies",
    "meetings.sweeps.check_minimum_participants",
    "meetings.rooms.provision_rooms",
    "meetings.sweeps.open_due_meetings",
    "bookings.sweeps.send_join_links",
    "bookings.sweeps.send_feedback_links",
    "meetings.sweeps.poll_room_attendance",
    # After the poll (a LiveKit student whose webhook was lost is seen first), before the normal close.
    "meetings.sweeps.close_empty_meetings",
    "meetings.sweeps.close_due_meetings",
    "meetings.rooms.end_rooms",
    "meetings.settlement.settle_closed_meetings",
    "meetings.recording_sweeps.expect_recordings",
    "meetings.recording_sweeps.poll_recordings",
    "meetings.recording_sweeps.download_recordings",
    "meetings.recording_sweeps.expire_recordings",
    "bookings.sweeps.approve_payouts",
    "notifications.delivery.deliver_notifications",
    "classroom.idempotency.expire_idempotency_keys",
    "classroom.tokens.expire_api_tokens",
    "integrations.line.linking.expire_line_links",
]
# What the clock (core.clock) runs every second: the moments people notice. Provisioning (an hour ahead), room ends
# and settlement (retried anyway) are left to the once-a-minute maintenance pass, which runs them all.
CLOCK_SWEEPS = [
    # First, so a policy version that took effect in this tick applies to the classes this tick opens.
    "repin_policies",
    "open_due_meetings",
    "send_join_links",
    "send_feedback_links",
    "close_empty_meetings",
    "close_due_meetings",
]
# The delivery sweep has its own clock (core.tasks.delivery_clock, every 0.25 s), so sending a backlog never delays
# the moments above; the maintenance pass runs it too.

# --- django-q2: the ORM broker by default, Redis when REDIS_URL is set ------------------------------------------------
REDIS_URL = env.url("REDIS_URL", "", schemes=("redis", "rediss"))
Q_CLUSTER = {
    "name": "classroom",
    "workers": env.int("Q_WORKERS", 4, minimum=1, maximum=64),
    # The lifecycle clock task runs for 100 s (core.clock); timeout must exceed that and retry must exceed
    # timeout, or the broker hands the same task to a second worker while the first is still running
    # (core.checks stops start-up otherwise).
    "timeout": 120,
    "retry": 180,
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Cache: shared by every process, so the login throttle's counts hold across web workers and hosts ----------------
# The database by default (its table, django_cache, is made by classroom's migration 0003), Redis when REDIS_URL is set.
# Every key starts with CACHE_KEY_PREFIX, so environments (or test runs) sharing one Redis never count each other.
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", "classroom")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            # Past this the table is culled (a third of it): well above the clients one minute's throttling counts.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
# django-q2 saves each cluster's status to its cache twice a second; in the process's memory, as before, rather than
# as database writes competing with the sweeps.
CACHES["django_q"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "django-q"}
Q_CLUSTER["cache"] = "django_q"

# --- REST API ---------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "classroom.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Classroom back office API",
    "VERSION": "1.0.0",
}

# --- Static files, auth ---------------------------------------------------------------------------------------------
STATIC_URL = "static/"
# Where `collectstatic` puts the files WhiteNoise serves.
STATIC_ROOT = env.str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # With DEBUG off: compressed copies and content-hashed names, which WhiteNoise serves with a year's caching. With
    # DEBUG on (the demo, the tests) the plain storage, which needs no collectstatic first.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
    # Recordings (meetings.Recording.file): private, played only through the signed play view.
    "recordings": {"BACKEND": RECORDINGS_STORAGE_BACKEND, "OPTIONS": _recordings_options},
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/admin/login/"
# After a login without ?next= (/api/auth/login/): the first page, which sends staff on to the admin.
LOGIN_REDIRECT_URL = "/"

# --- Logging: one JSON object per line, so transitions are greppable by field ---------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        # runserver's request lines, as Django writes them by default ('[date] "GET / HTTP/1.1" 200 12').
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    # Join, feedback and room links carry signed tokens: the loggers that write request paths redact them.
    "filters": {
        "redact_link_tokens": {"()": "config.logging.RedactLinkTokens"},
        "healthz_is_not_an_error": {"()": "config.logging.HealthzIsNotAnError"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO"},
        "django.request": {"filters": ["redact_link_tokens"]},
        "django.security.csrf": {"filters": ["redact_link_tokens"]},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_link_tokens", "healthz_is_not_an_error"],
        },
        "django_q": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

# Collected by EnvReader; reported by config.checks.
SETTINGS_ERRORS = env.errors

# --- Messaging: the notification outbox and LINE (issue 5) -------------------------------------------------------
# NOTIFICATION_CHANNEL (above) picks the route: "log" for the demo, "live" for LINE followers and e-mail otherwise.
# The Messaging API host: the SDK posts to <host>/v2/bot/message/push; tests and the demo point it at the local fake.
LINE_API_BASE_URL = env.url("LINE_API_BASE_URL", "https://api.line.me").rstrip("/")
# Every LINE call has both timeouts (the SDK has none by default); a call cut off is retried with the same key.
LINE_CONNECT_TIMEOUT_MS = env.int("LINE_CONNECT_TIMEOUT_MS", 3000, minimum=10, maximum=60_000)
LINE_READ_TIMEOUT_MS = env.int("LINE_READ_TIMEOUT_MS", 10_000, minimum=10, maximum=120_000)
# Delivery at scale (integrations.pacing): each LINE channel's calls run in up to LINE_MAX_CONCURRENCY threads (and
# as many kept-alive connections) per delivery process, paced per channel and endpoint below LINE's limits (push
# 2,000 requests a second, multicast 200). The caps are per process: with several delivery processes sending for one
# channel, give each its share (limit / processes).
LINE_MAX_CONCURRENCY = env.int("LINE_MAX_CONCURRENCY", 32, minimum=1, maximum=1024)
LINE_PUSH_RATE_PER_SECOND = env.int("LINE_PUSH_RATE_PER_SECOND", 1600, minimum=1, maximum=2000)
LINE_MULTICAST_RATE_PER_SECOND = env.int("LINE_MULTICAST_RATE_PER_SECOND", 160, minimum=1, maximum=200)
# Imagemap messages (join and feedback links): LINE fetches <base>/<kind>/<width> (1040, 700, 460, 300, 240) over
# https; the app draws them at /integrations/line/imagemap/.
# LINE's account-link dialog (access.line.me/dialog/bot/accountLink); the local fake serves it too.
LINE_ACCESS_BASE_URL = env.url("LINE_ACCESS_BASE_URL", "https://access.line.me").rstrip("/")
LINE_IMAGEMAP_BASE_URL = env.url("LINE_IMAGEMAP_BASE_URL", PUBLIC_BASE_URL.rstrip("/") + "/integrations/line/imagemap")

# --- Zalo notifications (ZNS) and the per-person channel order (issue 20) ------------------------------------------
# A phone number typed without a country code is read in this country (ISO 3166 alpha-2); stored in E.164.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", "VN").upper()
# The school's country: a person without a phone number gets this country's channel order.
SCHOOL_COUNTRY = env.str("SCHOOL_COUNTRY", "TW").upper()
# The default channel order per country ("VN=zalo,line,email;TW=line,email"); a person's own order wins; a country
# not named gets NOTIFICATION_CHANNEL_ORDER.
NOTIFICATION_CHANNEL_ORDER = env.str("NOTIFICATION_CHANNEL_ORDER", "line,email")
NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY = {
    country.strip().upper(): order.strip()
    for country, _sep, order in (
        item.partition("=")
        for item in env.str("NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY", "VN=zalo,line,email;TW=line,email").split(";")
        if "=" in item
    )
}
for _name, _orders in (
    ("NOTIFICATION_CHANNEL_ORDER", [NOTIFICATION_CHANNEL_ORDER]),
    ("NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY", list(NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY.values())),
):
    for _order in _orders:
        _names = [part.strip() for part in _order.split(",") if part.strip()]
        if not _names or set(_names) - {"zalo", "line", "email"} or len(set(_names)) != len(_names):
            env.error(_name, f"each order names zalo, line and email at most once, comma separated; got {_order!r}")
# ZNS (business.openapi.zalo.me/message/template) and the OA's OAuth v4 token refresh (oauth.zaloapp.com); tests and
# the demo point both at the local fake (integrations/zalo/fake.py).
ZALO_API_BASE_URL = env.url("ZALO_API_BASE_URL", "https://business.openapi.zalo.me")
ZALO_OAUTH_BASE_URL = env.url("ZALO_OAUTH_BASE_URL", "https://oauth.zaloapp.com")
# Calls to ZNS in flight at once per process, and the calls a second per OA (within Zalo's rate limit).
ZALO_MAX_CONCURRENCY = env.int("ZALO_MAX_CONCURRENCY", 4, minimum=1, maximum=64)
ZALO_RATE_PER_SECOND = env.int("ZALO_RATE_PER_SECOND", 10, minimum=1, maximum=1000)
# The access token (about 25 h) is refreshed this long before it expires.
ZALO_REFRESH_MARGIN_SECONDS = env.int("ZALO_REFRESH_MARGIN_SECONDS", 600, minimum=0, maximum=86_400)

# --- REST API for frontends (issue 7) ---------------------------------------------------------------------------------
INSTALLED_APPS += ["drf_spectacular_sidecar"]  # Swagger UI served from our own static files: no CDN needed
_api_auth_rate = env.str("API_AUTH_THROTTLE_RATE", "10/minute")
_count, _, _period = _api_auth_rate.partition("/")
if not (_count.isdigit() and int(_count) > 0 and _period in {"second", "minute", "hour", "day", "s", "m", "h", "d"}):
    env.error("API_AUTH_THROTTLE_RATE", "must look like 10/minute (a count, then second, minute, hour or day)")
    _api_auth_rate = "10/minute"
REST_FRAMEWORK.update(
    {
        # Token first: an anonymous request then gets 401 with "WWW-Authenticate: Token" instead of a bare 403.
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "classroom.authentication.TokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "TEST_REQUEST_DEFAULT_FORMAT": "json",
        "EXCEPTION_HANDLER": "config.api.exception_handler",
        "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
        "PAGE_SIZE": 20,
        "DEFAULT_THROTTLE_RATES": {"auth": _api_auth_rate},
        # Proxies in front of the app that append to X-Forwarded-For; the throttle counts per the address the nearest
        # of them saw. 0: the header is ignored (anyone can write it) and the connection's address is the client.
        "NUM_PROXIES": env.int("NUM_PROXIES", 0, minimum=0, maximum=10),
    }
)
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": (
            "The API the student and teacher apps are built on. Log in with a token (`POST /api/v1/auth/token/`, "
            "then `Authorization: Token <token>`; each login is a new token, valid until `expires_at`) or a session "
            "(`/api/auth/login/`). Every error has one shape: "
            '`{"error": {"code": ..., "message": ..., "fields": {...}}}`. Times are UTC (`...Z`) with the caller\'s '
            "local time and zone beside them."
        ),
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
        "COMPONENT_SPLIT_REQUEST": True,
        "SCHEMA_PATH_PREFIX": r"/api/v1",
        "TAGS": [
            {"name": "auth", "description": "Log in and out (tokens)."},
            {"name": "me", "description": "Your roles and time zone."},
            {"name": "courses", "description": "The catalogue."},
            {"name": "meetings", "description": "Classes: see, schedule, edit, cancel, join."},
            {"name": "bookings", "description": "Students' seats."},
            {"name": "payouts", "description": "Teachers' pay, read-only."},
            {"name": "admin", "description": "Staff only: open or close a class now."},
        ],
        "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.api.add_error_responses"],
        "ENUM_NAME_OVERRIDES": {
            "MeetingStateEnum": "meetings.models.MeetingState",
            "BookingStatusEnum": "bookings.models.BookingStatus",
            "PayoutStateEnum": "bookings.models.PayoutState",
        },
    }
)
# How long an API token (POST /api/v1/auth/token/) is valid; each login gets a new one. Only its digest is stored.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", 7 * 24, minimum=1, maximum=365 * 24)
# How long an Idempotency-Key is remembered (and its first response replayed); the maintenance pass forgets older ones.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=1, maximum=24 * 30)
