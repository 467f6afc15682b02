"""GET/PATCH /api/v1/me/: roles from the account, the time zone every local time is shown in."""

import pytest

from tests import factories
from tests.api.conftest import assert_error, client_for

pytestmark = pytest.mark.django_db


def test_roles_come_from_the_account(as_staff, as_charlie, as_alice, alice, teacher):
    assert as_staff.get("/api/v1/me/").json()["roles"] == ["staff"]
    charlie = as_charlie.get("/api/v1/me/").json()
    assert charlie["roles"] == ["teacher"] and charlie["teacher_id"] == teacher.pk and charlie["student_id"] is None
    me = as_alice.get("/api/v1/me/").json()
    assert me == {
        "id": alice.user.pk,
        "username": "alice",
        "email": alice.user.email,
        "roles": ["student"],
        "display_name": "Alice",
        "teacher_id": None,
        "student_id": alice.pk,
        "time_zone": "Asia/Ho_Chi_Minh",
        "line_contacts": [],
        "language": "en",
    }


def test_a_teacher_who_also_studies_has_both_roles(db):
    user = factories.UserFactory(username="eve")
    factories.TeacherFactory(user=user, time_zone="Europe/Paris")
    factories.StudentFactory(user=user, time_zone="Europe/Paris")
    assert client_for(user).get("/api/v1/me/").json()["roles"] == ["teacher", "student"]


def test_a_user_with_no_role_has_none(db):
    assert client_for(factories.UserFactory(username="nobody")).get("/api/v1/me/").json()["roles"] == []


def test_changing_the_time_zone(as_alice, alice):
    response = as_alice.patch("/api/v1/me/", {"time_zone": "Asia/Taipei"})
    assert response.status_code == 200 and response.json()["time_zone"] == "Asia/Taipei"
    alice.refresh_from_db()
    assert alice.time_zone == "Asia/Taipei"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "UTC+7", "asia/ho_chi_minh", 7])
def test_a_zone_that_is_not_iana_is_refused_naming_the_field(as_alice, alice, zone):
    assert_error(as_alice.patch("/api/v1/me/", {"time_zone": zone}), 400, "validation_error", "time_zone")
    alice.refresh_from_db()
    assert alice.time_zone == "Asia/Ho_Chi_Minh"


def test_staff_without_a_profile_cannot_store_a_zone(as_staff):
    assert_error(as_staff.patch("/api/v1/me/", {"time_zone": "Asia/Taipei"}), 400, "validation_error", "time_zone")
    assert as_staff.get("/api/v1/me/").json()["time_zone"] == "UTC"


def test_roles_and_names_cannot_be_changed_through_me(as_alice, alice):
    response = as_alice.patch("/api/v1/me/", {"roles": ["staff"], "username": "root", "student_id": 99})
    assert response.status_code == 200
    alice.user.refresh_from_db()
    assert alice.user.username == "alice" and not alice.user.is_staff
    assert response.json()["roles"] == ["student"]


def test_a_teacher_who_also_studies_changes_both_zones(db):
    user = factories.UserFactory(username="eve")
    teacher = factories.TeacherFactory(user=user, time_zone="Europe/Paris")
    student = factories.StudentFactory(user=user, time_zone="Europe/Paris")
    assert client_for(user).patch("/api/v1/me/", {"time_zone": "Asia/Tokyo"}).status_code == 200
    teacher.refresh_from_db()
    student.refresh_from_db()
    assert teacher.time_zone == student.time_zone == "Asia/Tokyo"


def test_changing_the_language_and_the_zone_together(as_alice, alice):
    response = as_alice.patch("/api/v1/me/", {"language": "zh-hant", "time_zone": "Asia/Taipei"})
    assert response.status_code == 200
    assert (response.json()["language"], response.json()["time_zone"]) == ("zh-hant", "Asia/Taipei")
    alice.refresh_from_db()
    assert (alice.language, alice.time_zone) == ("zh-hant", "Asia/Taipei")
    assert as_alice.get("/api/v1/me/").json()["language"] == "zh-hant"


def test_a_teacher_changes_their_language(as_charlie, teacher):
    assert as_charlie.patch("/api/v1/me/", {"language": "vi"}).json()["language"] == "vi"
    teacher.refresh_from_db()
    assert teacher.language == "vi"


@pytest.mark.parametrize("language", ["klingon", "", "zh-Hans", "VI", 7, None])
def test_a_language_we_do_not_write_in_is_refused_naming_the_field(as_alice, alice, language):
    response = as_alice.patch("/api/v1/me/", {"language": language}, format="json")
    assert_error(response, 400, "validation_error", "language")
    alice.refresh_from_db()
    assert alice.language == "en"


def test_staff_without_a_profile_cannot_store_a_language(as_staff):
    assert_error(as_staff.patch("/api/v1/me/", {"language": "vi"}), 400, "validation_error", "language")


def test_errors_follow_accept_language(as_alice):
    """The API speaks the request's Accept-Language (LocaleMiddleware): our messages and DRF's own."""
    response = as_alice.patch("/api/v1/me/", {"language": "klingon"}, HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 400 and response["Content-Language"] == "vi"
    assert response.json()["error"]["fields"]["language"] == [
        '"klingon" không phải là ngôn ngữ được hỗ trợ: en, vi, zh-hant.'
    ]
    chinese = as_alice.patch("/api/v1/me/", {"language": "klingon"}, HTTP_ACCEPT_LANGUAGE="zh-TW,zh;q=0.9")
    assert chinese.json()["error"]["fields"]["language"] == ["「klingon」不是支援的語言：en、vi、zh-hant。"]
    english = as_alice.patch("/api/v1/me/", {"language": "klingon"})
    assert english.json()["error"]["fields"]["language"] == ['"klingon" is not one of our languages: en, vi, zh-hant.']


def test_drfs_own_messages_follow_accept_language_too(anon):
    response = anon.post("/api/v1/auth/token/", {}, format="json", HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["username"] == ["Trường này là bắt buộc."]
