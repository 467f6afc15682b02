import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import translation

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


# --- real commits for the sweeps and delivery on PostgreSQL (hardening item 8) ----------------------------------------
# Sweeps and delivery commit on their own (each claim, each result, each staff alert in autocommit or its own
# transaction). Inside pytest-django's one-transaction-per-test, statements that behave differently in autocommit
# (an ON COMMIT DELETE ROWS staging table, a lock held to the end of a transaction, on_commit hooks) are never
# exercised: the staff alert lost on PostgreSQL went unnoticed that way. So on PostgreSQL these tests run as
# ``django_db(transaction=True)`` (a real commit per statement, tables flushed after each test); SQLite keeps the
# fast rollback. Entries are paths under tests/ (a folder, a file, or ``file::test-name-prefix``).
REAL_COMMITS = (
    "notifications/",  # the delivery sweep, the outbox, staff alerts
    "meetings/test_sweeps.py",  # minimum participants, open, join and feedback links, close, end rooms
    "meetings/test_close_empty.py",  # empty classes closed early, end to end
    "meetings/test_settle.py",  # settlement (and run_sweeps)
    "meetings/test_settle_batches.py",
    "meetings/test_settle_races.py",
    "meetings/test_settle_batch_races.py",
    "meetings/test_smoke_flow.py",  # every sweep, one class end to end
    "meetings/test_series_sweep.py",  # weekly classes: materialise_series
    "core/test_history_copy.py",  # core.audit.write's COPY, in autocommit
    "bookings/test_payout_sweep.py",  # payout approval
    "integrations/livekit/test_poll.py",  # room attendance polling
    "integrations/test_video_lifecycle.py",  # provisioning and ending rooms, every provider
    "integrations/zalo/test_delivery.py",  # ZNS delivery: token refresh, the ZaloMessage written before each call
    "integrations/zalo/test_channel_order.py",  # a mixed class through Zalo, LINE and e-mail
    "meetings/test_recordings.py",  # the recording webhook and sweeps (expect, poll, download, expire)
    "api/test_idempotency.py::test_the_expiry_sweep",  # idempotency key expiry
)
_with_real_commits: set[str] = set()  # the node ids pytest_itemcollected marked


def pytest_itemcollected(item):
    """On PostgreSQL, a test under REAL_COMMITS that uses the database runs with ``transaction=True``. Marked as it
    is collected, so pytest-django's ordering (rollback tests first, then transactional ones) sees the marker."""
    from pathlib import Path

    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return
    fixtures = getattr(item, "fixturenames", ())
    if item.get_closest_marker("django_db") is None and "db" not in fixtures and "transactional_db" not in fixtures:
        return
    path = Path(item.path).relative_to(Path(__file__).parent).as_posix()
    name = f"{path}::{item.name}"
    if any(name.startswith(entry) if "::" in entry else path.startswith(entry) for entry in REAL_COMMITS):
        # Prepended, so it is the closest django_db marker (the one pytest-django reads).
        item.add_marker(pytest.mark.django_db(transaction=True), append=False)
        _with_real_commits.add(item.nodeid)


# Tests that close a class by hand (``tests.meetings.closing.run_and_close``) and then settle it themselves: under a
# rollback the close's ``transaction.on_commit`` settlement never ran, and they rely on that ("the close path's
# settlement is left to the caller"). With real commits it would settle the class at once, so here it is switched
# off, as the race tests do (tests/meetings/test_settle_races.py); the after-commit settlement is tested there.
SETTLED_BY_HAND = ("meetings/test_settle.py", "meetings/test_settle_batches.py")


@pytest.fixture(autouse=True)
def _as_after_a_rollback(request):
    """What a test under REAL_COMMITS found for free in a rolled-back run, restored: the content type cache warm
    (a flush empties it, and a first lookup would count as one more statement in the query-counting tests), as in
    a worker past its first pass; and, for SETTLED_BY_HAND, a close without its after-commit settlement."""
    if request.node.nodeid not in _with_real_commits:
        return
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.get_for_models(*apps.get_models())
    if request.node.nodeid.split("::")[0].removeprefix("tests/") in SETTLED_BY_HAND:
        from meetings import lifecycle

        request.getfixturevalue("monkeypatch").setattr(
            lifecycle, "after_commit_outside_calls", lambda meeting_id, now: None
        )


@pytest.fixture(scope="session", autouse=True)
def _statements_checked():
    """Every statement core.statements finds compiled is compiled again and compared: a shape that misses
    something deciding the SQL fails the test that meets it (the list's and the join's, in every API test)."""
    from core import statements

    statements.CHECKED = True
    yield
    statements.CHECKED = False


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete():
    """After a transactional test Django empties every table with one ``TRUNCATE``, which on PostgreSQL costs 0.1 s
    on an idle machine and up to a second on a busy one, however little the test wrote (each table's files are
    replaced). ``DELETE`` empties the few rows a test writes in milliseconds; in the flush's one transaction the
    foreign keys (``DEFERRABLE INITIALLY DEFERRED``) are checked at commit, when every table is empty, so the order
    does not matter. Same result: sequences are not reset by either (Django's own TRUNCATE is kept when a test asks
    for reset sequences or a cascade)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = truncate


@pytest.fixture(scope="session", autouse=True)
def _commits_without_waiting_for_the_disk():
    """Real commits wait for their WAL flush (a few ms each, far more on a busy disk); tests do not need a commit to
    survive a power cut. ``synchronous_commit = off`` changes nothing any session sees, only durability."""
    from django.db.backends.signals import connection_created

    def no_wait(sender, connection, **kwargs):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")

    connection_created.connect(no_wait, weak=False, dispatch_uid="tests-synchronous-commit-off")
    yield
    connection_created.disconnect(dispatch_uid="tests-synchronous-commit-off")


# --- end of real commits ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_pacing():
    """Each test starts with full rate buckets and no pooled LINE connections (both are per process)."""
    from integrations.line.channel import close_api_clients
    from integrations.pacing import reset_limiters

    reset_limiters()
    yield
    reset_limiters()
    close_api_clients()


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """A request through LocaleMiddleware leaves its language active in the thread (each real request sets its own
    first); a test after a Vietnamese request must not run in Vietnamese."""
    yield
    translation.deactivate()  # back to LANGUAGE_CODE


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Every teacher has a login, and PBKDF2 costs ~0.3 s per password: tests hash with MD5 instead."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _fresh_policy_cache(monkeypatch):
    """Each test reads the policy versions of its own database once: cleared before and after, and kept for the
    whole test rather than half a second, so the one query that reads them never lands in one statement count and
    not another. Versions made in the test clear it themselves; the subprocess test keeps the real lifetime."""
    from classroom import policies
    from meetings import sweeps

    monkeypatch.setattr(policies, "CACHE_SECONDS", 3600)
    policies.clear_cache()
    sweeps._pinned_to.clear()
    yield
    policies.clear_cache()
    sweeps._pinned_to.clear()


@pytest.fixture
def set_policy(db):
    """``set_policy(key=value, ...)``: a newer school version with those values, every class pinned to it (a test's
    shortcut for "the school's rules are these"; the real path, with its validation, is policies.create_version)."""
    from classroom import policies
    from classroom.models import Policy
    from meetings.models import Meeting

    def apply(**changes):
        policies.clear_cache()
        newest = Policy.objects.filter(course__isnull=True).order_by("-effective_from", "-id").first()
        base = policies.version(newest.pk) if newest else None
        values = {**(base.values() if base else policies.defaults_from_settings())}
        values.update({key: str(value) if isinstance(value, Decimal) else value for key, value in changes.items()})
        created = Policy.objects.create(
            values=values,
            effective_from=(newest.effective_from if newest else policies.FIRST_EFFECTIVE_FROM)
            + dt.timedelta(seconds=1),
            created_at=policies.FIRST_EFFECTIVE_FROM,
            author_name="test",
            note="test rules",
        )
        Meeting.objects.update(policy=created)
        policies.clear_cache()
        return policies.version(created.pk)

    return apply


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
