import datetime as dt

import pytest
from django.db import connection

from tests import factories


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` run only against PostgreSQL (the second half of .ci/run)."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Every teacher has a login, and PBKDF2 costs ~0.3 s per password: tests hash with MD5 instead."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def now():
    """A fixed 'now' on a whole minute, well inside a day (no DST edge unless a test asks for one)."""
    return dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def staff(db):
    return factories.StaffFactory(username="sam")


@pytest.fixture
def teacher(db):
    return factories.TeacherFactory(display_name="Charlie", time_zone="America/New_York")


@pytest.fixture
def alice(db):
    return factories.StudentFactory(display_name="Alice", time_zone="Asia/Ho_Chi_Minh")


@pytest.fixture
def bob(db):
    return factories.StudentFactory(display_name="Bob", time_zone="Asia/Taipei")


@pytest.fixture
def meeting(db, teacher, now):
    """Charlie's class from 13:00 to 14:00 UTC on the fixed day (an hour after ``now``)."""
    return factories.MeetingFactory(
        teacher=teacher,
        title="IELTS Practice",
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )


# --- video providers: the local fakes, and the settings pointing at them ----------------------------------------------

LIVEKIT_KEY = "test-livekit-key"
LIVEKIT_SECRET = "test-livekit-secret-0123456789abcdef0123"
ZOOM_WEBHOOK_SECRET = "test-zoom-webhook-secret-token"


@pytest.fixture
def fast_http(settings):
    """Retries without waiting (backoff 0) and a short timeout: the suite never sleeps on the wall clock."""
    settings.HTTP_RETRY_BACKOFF_MS = 0
    settings.HTTP_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def livekit(fast_http):
    """A fake LiveKit server on 127.0.0.1, with VIDEO_PROVIDER=livekit pointed at it (its /join page stands in for
    the meeting page)."""
    from integrations.livekit.fake import LiveKitFake

    settings = fast_http
    with LiveKitFake(api_key=LIVEKIT_KEY, api_secret=LIVEKIT_SECRET) as fake:
        settings.VIDEO_PROVIDER = "livekit"
        settings.LIVEKIT_URL = fake.url
        settings.LIVEKIT_WS_URL = "ws" + fake.url.removeprefix("http")
        settings.LIVEKIT_API_KEY = LIVEKIT_KEY
        settings.LIVEKIT_API_SECRET = LIVEKIT_SECRET
        settings.LIVEKIT_JOIN_URL = fake.url + "/join"
        yield fake


@pytest.fixture
def zoom(fast_http):
    """A fake Zoom (OAuth + REST API) on 127.0.0.1 signing its webhooks, with VIDEO_PROVIDER=zoom pointed at it."""
    from integrations.zoom.client import forget_tokens
    from integrations.zoom.fake import ZoomFake

    settings = fast_http
    forget_tokens()
    with ZoomFake(webhook_secret_token=ZOOM_WEBHOOK_SECRET) as fake:
        settings.VIDEO_PROVIDER = "zoom"
        settings.ZOOM_API_URL = settings.ZOOM_OAUTH_URL = fake.url
        settings.ZOOM_WEBHOOK_SECRET_TOKEN = ZOOM_WEBHOOK_SECRET
        yield fake
    forget_tokens()


@pytest.fixture
def zoom_accounts(db, zoom):
    """Three Pro host accounts, Ann, Ben and Cat, each its own Zoom account, in the pool and in the fake."""
    accounts = []
    for name in ("ann", "ben", "cat"):
        zoom.add_account(f"acct-{name}", f"client-{name}", f"secret-{name}", users=[f"host-{name}"])
        accounts.append(factories.ZoomAccountFactory(name=name.title(), suffix=name))
    return accounts


# --- messaging: the LINE fake, a channel pointed at it ----------------------------------------------------------------

LINE_TOKEN = "test-line-access-token-0123456789abcdef"
LINE_SECRET = "test-line-channel-secret-0123456789"


@pytest.fixture
def line(settings):
    """A fake LINE Messaging API on 127.0.0.1 accepting LINE_TOKEN, with NOTIFICATION_CHANNEL=live pointed at it.
    Read timeouts are short (1 s, ample for a local answer) and injected "timeouts" hang longer (1.2 s)."""
    from integrations.line.fake import LineFake

    with LineFake(tokens={LINE_TOKEN}, channel_secret=LINE_SECRET, hang_seconds=1.2) as fake:
        settings.NOTIFICATION_CHANNEL = "live"
        settings.LINE_API_BASE_URL = fake.url
        settings.LINE_CONNECT_TIMEOUT_MS = 1000
        settings.LINE_READ_TIMEOUT_MS = 1000
        settings.LINE_IMAGEMAP_BASE_URL = "https://classroom.example/integrations/line/imagemap"
        yield fake


@pytest.fixture
def line_channel(db):
    return factories.LineChannelFactory(
        name="IELTS Club", slug="ielts", access_token=LINE_TOKEN, channel_secret=LINE_SECRET
    )
