"""Zoom REST API v2 for one host account, with Server-to-Server OAuth.

The access token (``POST {ZOOM_OAUTH_URL}/oauth/token``, Basic auth with the app's client id and secret, grant
``account_credentials``) lives an hour; one is cached per account in this process and renewed when fewer than 60 s
remain, or at once when the API answers 401 (revoked, or the credentials were changed).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings

from integrations.http import HttpClient, ProviderError

RENEW_BEFORE_SECONDS = 60
REPORT_PAGE_SIZE = 300
LIST_PAGE_SIZE = 300  # Zoom's maximum for a user's meetings


@dataclass
class _Token:
    value: str
    expires_at: float  # time.time()


# (account pk, client id) -> token. A process-wide cache: every ZoomClient of the same account shares one token.
_tokens: dict[tuple[int, str], _Token] = {}
_tokens_lock = threading.Lock()


class AccountRefused(ProviderError):
    """Zoom refused this account itself (credentials, missing host user): another account may still work."""

    def __init__(self, error: ProviderError):
        super().__init__(str(error), permanent=True, status=error.status, detail=error.detail)


def forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()


def is_daily_limit(error_or_response) -> bool:
    """Zoom's "daily rate limit (100) of Meeting Create/Update API requests": a 429 that no retry today cures."""
    status = getattr(error_or_response, "status", None) or getattr(error_or_response, "status_code", None)
    if status != 429:
        return False
    detail = getattr(error_or_response, "detail", None)
    if detail is None:
        detail = error_or_response.text
    return "daily" in detail.lower()


def uuid_path(uuid: str) -> str:
    """A meeting UUID as a path segment. Zoom's UUIDs are base64 and may hold ``/``: encoded once, and when it begins
    with ``/`` or contains ``//``, encoded twice, as Zoom's API reference requires for those (or the request
    reaches another path)."""
    once = quote(uuid, safe="")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


class ZoomClient:
    def __init__(self, account, *, api: HttpClient | None = None, oauth: HttpClient | None = None):
        self.account = account
        self.api = api or HttpClient("zoom", settings.ZOOM_API_URL)
        self.oauth = oauth or HttpClient("zoom-oauth", settings.ZOOM_OAUTH_URL)

    @property
    def _key(self) -> tuple[int, str]:
        return (self.account.pk, self.account.client_id)

    def token(self) -> str:
        with _tokens_lock:
            cached = _tokens.get(self._key)
        if cached and cached.expires_at - time.time() > RENEW_BEFORE_SECONDS:
            return cached.value
        try:
            response = self.oauth.request(
                "POST",
                "/oauth/token",
                data={"grant_type": "account_credentials", "account_id": self.account.account_id},
                auth=(self.account.client_id, self.account.client_secret),
            )
        except ProviderError as exc:
            raise (AccountRefused(exc) if exc.permanent else exc) from exc
        body = response.json()
        token = _Token(body["access_token"], time.time() + int(body.get("expires_in", 3600)))
        with _tokens_lock:
            _tokens[self._key] = token
        return token.value

    def _forget_token(self) -> None:
        with _tokens_lock:
            _tokens.pop(self._key, None)

    def call(self, method: str, path: str, **kwargs):
        try:
            return self.api.request(method, path, headers={"Authorization": f"Bearer {self.token()}"}, **kwargs)
        except ProviderError as exc:
            if exc.status != 401:
                raise
        self._forget_token()  # revoked or expired early: one more try with a new token
        try:
            return self.api.request(method, path, headers={"Authorization": f"Bearer {self.token()}"}, **kwargs)
        except ProviderError as exc:
            raise (AccountRefused(exc) if exc.status == 401 else exc) from exc

    # --- meetings ------------------------------------------------------------------------------------------------
    def create_meeting(self, payload: dict) -> dict:
        """Not idempotent (a resend would create a second meeting), and the daily-limit 429 is final."""
        try:
            response = self.call(
                "POST",
                f"/v2/users/{self.account.host_user_id}/meetings",
                json=payload,
                idempotent=False,
                give_up=is_daily_limit,
            )
        except ProviderError as exc:
            raise (AccountRefused(exc) if exc.status == 404 else exc) from exc  # 404: no such host user
        return response.json()

    def list_meetings(self, *, kind: str = "scheduled") -> list[dict]:
        """The host user's meetings (``scheduled``: every valid scheduled one, past, live or upcoming), all pages.
        Zoom cuts ``agenda`` to 250 characters here and leaves out ``start_url`` and ``password``."""
        return self._pages(f"/v2/users/{self.account.host_user_id}/meetings", "meetings", LIST_PAGE_SIZE, type=kind)

    def get_meeting(self, meeting_id: int) -> dict:
        return self.call("GET", f"/v2/meetings/{meeting_id}").json()

    def end_meeting(self, meeting_id: int) -> None:
        self.call("PUT", f"/v2/meetings/{meeting_id}/status", json={"action": "end"})

    def participants_report(self, meeting_id: int) -> list[dict]:
        """Every session of every participant (a rejoin is another row), all pages."""
        return self._pages(f"/v2/report/meetings/{meeting_id}/participants", "participants", REPORT_PAGE_SIZE)

    # --- cloud recordings ----------------------------------------------------------------------------------------
    def recordings(self, uuid: str) -> dict | None:
        """``GET /meetings/{uuid}/recordings`` (the meeting instance's cloud recordings, with a download access token
        for them); None when Zoom has none for it (404: not recorded, or not processed yet)."""
        try:
            return self.call(
                "GET", f"/v2/meetings/{uuid_path(uuid)}/recordings", params={"include_fields": "download_access_token"}
            ).json()
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise

    def delete_recording(self, uuid: str, file_id: str) -> None:
        """Move one recording file to Zoom's trash; already gone (404) is fine."""
        try:
            self.call(
                "DELETE",
                f"/v2/meetings/{uuid_path(uuid)}/recordings/{quote(file_id, safe='')}",
                params={"action": "trash"},
            )
        except ProviderError as exc:
            if exc.status != 404:
                raise

    def _pages(self, path: str, key: str, page_size: int, **params) -> list[dict]:
        """Every row of a list Zoom pages with ``next_page_token``."""
        rows, page_token = [], ""
        while True:
            query = {**params, "page_size": page_size}
            if page_token:
                query["next_page_token"] = page_token
            body = self.call("GET", path, params=query).json()
            rows += body.get(key, [])
            page_token = body.get("next_page_token") or ""
            if not page_token:
                return rows
