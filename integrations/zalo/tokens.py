"""The OA access token: OAuth v4 refresh before it expires, one refresher at a time.

``POST {ZALO_OAUTH_BASE_URL}/v4/oa/access_token`` with the app's ``secret_key`` header and the form
``refresh_token=…&app_id=…&grant_type=refresh_token`` answers ``{"access_token", "refresh_token", "expires_in"}``
(seconds, as a string; about 25 hours). Each refresh returns a *new* refresh token and the old one stops working, so:

* the refresh happens under a row lock on the channel (``select_for_update``): two workers that both find the token
  stale queue on the lock; the first refreshes, the second finds a fresh token when it gets the lock and uses it
  (one refresh call, both send with the new token);
* the new tokens are saved in that same short transaction, before anything is sent with them;
* the refresh is not resent after a lost answer (``idempotent=False``): Zalo may have rotated the refresh token
  already, and a resend with the old one would be refused. The next attempt tries again; if Zalo did rotate, that
  refusal flags the channel and staff reconnect it.

A refresh Zalo refuses (an error answer: a revoked or expired refresh token, a wrong secret key) flags the channel
(``auth_failed_at``, ``auth_error``; shown in the admin, like a LINE 401). Secrets never reach a log line or an error.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction

from integrations.http import HttpClient, ProviderError
from integrations.zalo.models import ZaloChannel

logger = logging.getLogger("classroom.zalo")

REFRESH_PATH = "/v4/oa/access_token"


class TokenUnavailable(Exception):
    """No usable access token: ``permanent`` when Zalo refused the refresh (the channel is flagged)."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def _fresh(channel: ZaloChannel, now: dt.datetime) -> bool:
    margin = dt.timedelta(seconds=settings.ZALO_REFRESH_MARGIN_SECONDS)
    return (
        bool(channel.access_token) and channel.token_expires_at is not None and channel.token_expires_at - margin > now
    )


def _refresh_call(channel: ZaloChannel) -> dict:
    """One OAuth v4 refresh; the answer's JSON, or ProviderError (``permanent`` when Zalo refused it)."""
    client = HttpClient("zalo-oauth", settings.ZALO_OAUTH_BASE_URL)
    response = client.request(
        "POST",
        REFRESH_PATH,
        idempotent=False,
        headers={"secret_key": channel.secret_key},
        data={"refresh_token": channel.refresh_token, "app_id": channel.app_id, "grant_type": "refresh_token"},
    )
    try:
        answer = response.json()
    except ValueError:
        raise ProviderError("Zalo token refresh: the answer is not JSON", permanent=False) from None
    if not isinstance(answer, dict) or not answer.get("access_token") or not answer.get("refresh_token"):
        # Zalo answers a refusal with 200 and {"error": <negative>, "error_name"/"error_description": ...}.
        detail = ""
        if isinstance(answer, dict):
            detail = str(answer.get("error_description") or answer.get("error_name") or answer.get("message") or "")
            detail = f"{answer.get('error', '?')} {detail}".strip()
        raise ProviderError(f"Zalo refused the token refresh: {detail[:200]}", permanent=True, detail=detail)
    return answer


def access_token(channel_id: int, now: dt.datetime, *, refused: str | None = None) -> str:
    """A usable access token of the channel, refreshed first when it expires within ZALO_REFRESH_MARGIN_SECONDS,
    or when ``refused`` (the token Zalo just answered "access token invalid" to) is still the stored one."""
    channel = ZaloChannel.objects.get(pk=channel_id)
    if refused is None and _fresh(channel, now) and channel.auth_failed_at is None:
        return channel.access_token  # the common case: no lock
    failure = None
    with transaction.atomic():
        channel = ZaloChannel.objects.select_for_update(no_key=True).get(pk=channel_id)
        if channel.auth_failed_at is not None:
            raise TokenUnavailable(
                f"Zalo channel {channel.slug}: the token refresh was refused ({channel.auth_error}); "
                "reconnect the OA in the admin",
                permanent=True,
            )
        stale = refused is not None and channel.access_token == refused
        if _fresh(channel, now) and not stale:
            return channel.access_token  # another worker refreshed while we waited for the lock
        try:
            answer = _refresh_call(channel)
        except ProviderError as exc:
            if not exc.permanent:
                logger.warning("zalo token refresh failed", extra={"zalo_channel": channel.slug, "error": str(exc)})
                raise TokenUnavailable(str(exc), permanent=False) from None
            # Flag it in this transaction and commit: the flag must outlive the error.
            ZaloChannel.objects.filter(pk=channel.pk).update(auth_failed_at=now, auth_error=str(exc)[:300])
            logger.error("zalo token refresh refused", extra={"zalo_channel": channel.slug, "error": str(exc)})
            failure = TokenUnavailable(f"Zalo channel {channel.slug}: {exc}", permanent=True)
        else:
            try:
                lifetime = int(answer.get("expires_in") or 0)
            except (TypeError, ValueError):
                lifetime = 0
            channel.access_token = answer["access_token"]
            channel.refresh_token = answer["refresh_token"]  # the old one is dead from now on: saved at once
            channel.token_expires_at = now + dt.timedelta(seconds=lifetime)
            channel.save(update_fields=["access_token", "refresh_token", "token_expires_at"])
            logger.info("zalo token refreshed", extra={"zalo_channel": channel.slug, "expires_in": lifetime})
    if failure is not None:
        raise failure
    return channel.access_token
