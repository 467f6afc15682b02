"""Who sees which language in the admin (README, "Languages"): the language chooser, else the staff member's own
teacher/student record's language, else the browser's Accept-Language. Django's own admin strings come from
Django's catalogue; ours from locale/."""

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db
PAGES = ["admin:index", "admin:meetings_review_queue", "admin:meetings_lifecycle"]
# Django's admin in Vietnamese, on every page: "Log out", "Change password"; and the chooser's label (ours).
# "Log out" is our catalogue's "Đăng xuất" (the home page marks it too; LOCALE_PATHS comes before Django's "Thoát").
VIETNAMESE = ["Đăng xuất", "Đổi mật khẩu", "Ngôn ngữ"]
ENGLISH = ["Log out", "Change password"]


@pytest.fixture
def sam(client):
    sam = factories.StaffFactory(username="sam")
    client.force_login(sam)
    return sam


def page(client, name, **headers):
    response = client.get(reverse(name), **headers)
    assert response.status_code == 200, name
    return response


@pytest.mark.parametrize("name", PAGES)
def test_an_admin_who_chose_vietnamese_sees_the_admin_in_vietnamese(sam, client, name):
    chosen = client.post("/i18n/setlang/", {"language": "vi", "next": reverse("admin:index")})
    assert chosen.status_code == 302 and chosen["Location"] == reverse("admin:index")

    response = page(client, name, HTTP_ACCEPT_LANGUAGE="en")  # the choice beats the browser's
    text = response.content.decode()
    assert response["Content-Language"] == "vi" and '<html lang="vi"' in text
    for word in VIETNAMESE:
        assert word in text, (name, word)
    assert "Log out" not in text


def test_the_chooser_is_on_every_admin_page_with_the_current_language_selected(sam, client):
    text = page(client, "admin:index", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert 'action="/i18n/setlang/"' in text
    assert '<option value="zh-hant" lang="zh-hant" selected>繁體中文</option>' in text
    assert '<option value="vi" lang="vi">Tiếng Việt</option>' in text
    assert "登出" in text  # Django's "Log out" in Traditional Chinese


@pytest.mark.parametrize("name", PAGES)
def test_without_a_choice_the_browsers_language_applies(sam, client, name):
    assert all(word in page(client, name, HTTP_ACCEPT_LANGUAGE="vi").content.decode() for word in VIETNAMESE)
    assert all(word in page(client, name, HTTP_ACCEPT_LANGUAGE="en-GB").content.decode() for word in ENGLISH)


def test_a_staff_member_who_teaches_sees_the_admin_in_their_records_language(sam, client):
    factories.TeacherFactory(user=sam, language="vi")
    text = page(client, "admin:meetings_review_queue", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert all(word in text for word in VIETNAMESE)
    # Their choice in the chooser still wins.
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert "Log out" in page(client, "admin:meetings_review_queue").content.decode()


def test_the_record_language_is_for_the_admin_only_the_api_follows_accept_language(sam, client):
    factories.TeacherFactory(user=sam, language="vi")
    response = client.get("/api/v1/nothing-here/", HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert response.status_code == 404 and response["Content-Language"] == "zh-hant"
