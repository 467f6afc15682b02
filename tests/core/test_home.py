"""The first page: ``/`` sends staff to the admin and tells everyone else what this is; logins end there too."""

from django.contrib import admin

from tests import factories


def test_staff_are_sent_to_the_admin(client, staff):
    client.force_login(staff)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_anyone_else_gets_a_short_page_with_the_login_and_the_api_docs(client, db):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Classroom back office" in page
    assert 'href="/api/auth/login/"' in page and 'href="/api/docs/"' in page


def test_a_logged_in_student_sees_who_they_are_and_a_logout_button(client, db):
    user = factories.UserFactory(username="alice")
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "logged in as alice" in page
    assert 'action="/api/auth/logout/"' in page and "/api/auth/login/" not in page


def test_the_admins_view_site_leads_to_the_first_page(client, db):
    assert admin.site.site_url == "/"
    assert client.get(admin.site.site_url).status_code == 200


def test_a_session_login_without_next_lands_on_the_first_page_not_a_404(client, db):
    user = factories.UserFactory()
    user.set_password("pw-for-the-test")
    user.save()
    page = client.get("/api/auth/login/")
    assert page.status_code == 200
    response = client.post("/api/auth/login/", {"username": user.get_username(), "password": "pw-for-the-test"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get(response["Location"]).status_code == 200
