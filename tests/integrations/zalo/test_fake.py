"""The fake Zalo refuses what Zalo refuses (it is what the delivery tests trust)."""

import requests

from tests.integrations.zalo.conftest import ACCESS_TOKEN, APP_ID, REFRESH_TOKEN, SECRET_KEY


def send(fake, token=ACCESS_TOKEN, **body):
    payload = {"phone": "84912340000", "template_id": "300004", "template_data": {"noi_dung": "x"}, **body}
    return requests.post(
        f"{fake.url}/message/template", json=payload, headers={"access_token": token}, timeout=5
    ).json()


def test_it_checks_the_token_the_template_its_parameters_and_the_phone(zalo):
    assert send(zalo)["error"] == 0
    assert send(zalo, token="wrong")["error"] == -124
    assert send(zalo, template_id="999")["error"] == -109
    assert send(zalo, template_data={"other": "x"})["error"] == -112
    assert send(zalo, template_data={"noi_dung": ""})["error"] == -112
    assert send(zalo, phone="0912340000")["error"] == -108
    zalo.template("300009", ["a"], approved=False)
    assert send(zalo, template_id="300009", template_data={"a": "x"})["error"] < 0
    assert len(zalo.sent) == 1


def test_a_refresh_rotates_both_tokens_and_the_old_refresh_token_dies(zalo):
    def refresh(token, secret=SECRET_KEY):
        data = {"refresh_token": token, "app_id": APP_ID, "grant_type": "refresh_token"}
        url = f"{zalo.url}/v4/oa/access_token"
        return requests.post(url, data=data, headers={"secret_key": secret}, timeout=5).json()

    assert refresh(REFRESH_TOKEN, secret="wrong")["error"] < 0
    answer = refresh(REFRESH_TOKEN)
    assert answer["refresh_token"] != REFRESH_TOKEN and int(answer["expires_in"]) > 0
    assert refresh(REFRESH_TOKEN)["error"] == -14014
    assert send(zalo, token=answer["access_token"])["error"] == 0
    zalo.expire_tokens()
    assert send(zalo, token=answer["access_token"])["error"] == -124
