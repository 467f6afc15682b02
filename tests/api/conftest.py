"""API test people: Sam (staff), Charlie and Dana (teachers), Alice and Bob (students), each with a login, and an
API client for each. Every API test runs at the suite's fixed ``now`` (2026-07-01 12:00 UTC) with the clock stopped,
unless it travels elsewhere itself."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def frozen_clock(now):
    with time_machine.travel(now, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def fresh_throttle_counts(django_db_setup, django_db_blocker):
    """Throttle counts live in the cache (a table of the test database by default); each test starts with none."""
    with django_db_blocker.unblock():
        cache.clear()
    yield
    with django_db_blocker.unblock():
        cache.clear()


@pytest.fixture
def alice(db):
    return factories.StudentFactory(
        display_name="Alice", time_zone="Asia/Ho_Chi_Minh", user=factories.UserFactory(username="alice")
    )


@pytest.fixture
def bob(db):
    return factories.StudentFactory(
        display_name="Bob", time_zone="Asia/Taipei", user=factories.UserFactory(username="bob")
    )


@pytest.fixture
def teacher(db):
    return factories.TeacherFactory(
        display_name="Charlie", time_zone="America/New_York", user=factories.UserFactory(username="charlie")
    )


@pytest.fixture
def dana(db):
    return factories.TeacherFactory(
        display_name="Dana", time_zone="Asia/Taipei", user=factories.UserFactory(username="dana")
    )


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def as_staff(staff):
    return client_for(staff)


@pytest.fixture
def as_charlie(teacher):
    return client_for(teacher.user)


@pytest.fixture
def as_dana(dana):
    return client_for(dana.user)


@pytest.fixture
def as_alice(alice):
    return client_for(alice.user)


@pytest.fixture
def as_bob(bob):
    return client_for(bob.user)


@pytest.fixture
def danas_meeting(dana, now):
    """Dana's class, tomorrow at the same time."""
    return factories.MeetingFactory(
        teacher=dana,
        title="Taiwanese Cooking",
        start_time=now + dt.timedelta(days=1),
        end_time=now + dt.timedelta(days=1, hours=1),
    )


def assert_error(response, status: int, code: str, *fields: str):
    """The one error shape, with the status, code and (exactly) the fields named."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert set(error["fields"]) == set(fields), error
    return error
