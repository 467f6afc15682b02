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
