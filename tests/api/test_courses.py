"""GET /api/v1/courses/: the catalogue a booking page is built from."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def test_everyone_logged_in_sees_the_courses(as_alice, as_charlie):
    factories.CourseFactory(title="IELTS", price="12.50", currency="USD", capacity=8)
    for client in (as_alice, as_charlie):
        body = client.get("/api/v1/courses/").json()
        assert body["count"] == 1
        assert body["results"][0] | {"id": 0} == {
            "id": 0,
            "title": "IELTS",
            "description": "",
            "price": "12.50",
            "currency": "USD",
            "capacity": 8,
            "min_participants": 0,
            "default_duration_minutes": 60,
        }


def test_courses_are_read_only(as_staff):
    course = factories.CourseFactory()
    assert as_staff.post("/api/v1/courses/", {"title": "x"}).status_code == 405
    assert as_staff.patch(f"/api/v1/courses/{course.pk}/", {"title": "x"}).status_code == 405
