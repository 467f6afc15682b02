"""Server-to-Server OAuth against the fake Zoom: one cached token per account, renewed before it runs out."""

import base64
import datetime as dt

import pytest
import time_machine

from integrations.http import ProviderError
from integrations.zoom.client import AccountRefused, ZoomClient


@pytest.fixture
def ann(zoom_accounts):
    return zoom_accounts[0]


def token_requests(zoom):
    return zoom.calls("/oauth/token")


def test_it_gets_a_token_with_basic_auth_and_reuses_it(zoom, ann):
    ZoomClient(ann).get_meeting  # noqa: B018 - nothing is fetched before a call
    assert token_requests(zoom) == []
    with pytest.raises(ProviderError):  # no such meeting, but both calls were authorised with the same token
        ZoomClient(ann).get_meeting(1)
    with pytest.raises(ProviderError):
        ZoomClient(ann).get_meeting(2)
    [request] = token_requests(zoom)
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"client-ann:secret-ann").decode()
    assert b"grant_type=account_credentials" in request.body and b"account_id=acct-ann" in request.body
    bearers = {r.headers["authorization"] for r in zoom.calls("/v2/meetings/")}
    assert len(bearers) == 1


def test_it_renews_the_token_when_less_than_a_minute_is_left(zoom, ann):
    start = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        first = ZoomClient(ann).token()
    with time_machine.travel(start + dt.timedelta(seconds=3600 - 61), tick=False):
        assert ZoomClient(ann).token() == first
    with time_machine.travel(start + dt.timedelta(seconds=3600 - 59), tick=False):
        assert ZoomClient(ann).token() != first
    assert len(token_requests(zoom)) == 2


def test_a_revoked_token_is_replaced_once(zoom, ann):
    ZoomClient(ann).token()
    zoom.expire_tokens()
    with pytest.raises(ProviderError) as caught:
        ZoomClient(ann).get_meeting(1)
    assert caught.value.status == 404  # got past auth with a new token
    assert len(token_requests(zoom)) == 2


def test_wrong_credentials_are_the_accounts_problem(zoom, ann):
    ann.client_secret = "wrong"
    with pytest.raises(AccountRefused) as caught:
        ZoomClient(ann).token()
    assert caught.value.status == 401 and caught.value.permanent
    assert len(token_requests(zoom)) == 1  # a 401 is not retried
