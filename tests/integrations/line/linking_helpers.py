"""Driving LINE account linking the way people do, against the LINE fake over real HTTP: a user writes in the chat
(the fake signs the webhook; the Django test client delivers it), our app asks the fake for link tokens and replies,
and a browser plays LINE's account-link dialog on the fake."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

WEBHOOK = "/integrations/line/webhook/{slug}/"


def deliver(client, webhook, slug: str = "ielts") -> dict:
    """POST a webhook the fake made to our webhook URL; returns the outcomes."""
    reply = client.post(WEBHOOK.format(slug=slug), webhook.body, **webhook.headers())
    assert reply.status_code == 200, reply.content
    return reply.json()["events"]


def say(client, line, user_id: str, text: str, slug: str = "ielts") -> dict:
    return deliver(client, line.send_text(user_id, text), slug)


def account_link(client, line, user_id: str, login_user, *, role: str = "student", slug: str = "ielts") -> dict:
    """The whole account link: "link" in the chat, the button's page (a login first), LINE's dialog, and the
    accountLink event. Returns the accountLink event's outcomes."""
    say(client, line, user_id, "link", slug)
    page = urlsplit(line.last_link_button(user_id))
    assert page.path == f"/integrations/line/link/{slug}/"
    path = f"{page.path}?{page.query}"
    assert client.get(path).status_code == 302  # not logged in yet: to the login page
    client.force_login(login_user)
    to_line = client.get(f"{path}&role={role}")
    assert to_line.status_code == 302
    dialog = urlsplit(to_line["Location"])
    assert f"{dialog.scheme}://{dialog.netloc}" == line.url and dialog.path == "/dialog/bot/accountLink"
    nonce = parse_qs(dialog.query)["nonce"][0]
    assert 10 <= len(nonce) <= 255
    answer = requests.get(to_line["Location"], allow_redirects=False, timeout=5)  # the browser, on "LINE"
    assert answer.status_code in (200, 302)
    client.logout()
    return deliver(client, line.events[-1], slug)
