"""LiveKit's RoomService (Twirp JSON over HTTP) and its tokens, with plain ``requests`` + PyJWT.

Every call carries ``Authorization: Bearer <JWT>``: HS256 with the API secret, ``iss`` = API key, a short ``exp``,
and the ``video`` grant the method needs (CreateRoom/DeleteRoom: ``roomCreate``; ListParticipants/RemoveParticipant:
``roomAdmin`` + ``room``). Replies are snake_case with int64 as strings. A Twirp ``not_found`` is HTTP 404. The
Egress service (``/twirp/livekit.Egress/...``: ListEgress) needs ``roomRecord``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time

import jwt
from django.conf import settings

from integrations.http import HttpClient, ProviderError

# Server-to-server tokens live just long enough for one call (with its retries).
API_TOKEN_SECONDS = 600
# LiveKit's own verifier allows a minute of clock difference.
LEEWAY_SECONDS = 60


class InvalidSignature(Exception):
    pass


class LiveKitClient:
    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        http: HttpClient | None = None,
    ):
        self.api_key = api_key if api_key is not None else settings.LIVEKIT_API_KEY
        self.api_secret = api_secret if api_secret is not None else settings.LIVEKIT_API_SECRET
        self.http = http or HttpClient("livekit", url or settings.LIVEKIT_URL)
        # Every key a webhook may be signed with (LIVEKIT_WEBHOOK_KEYS: key rotation), ours among them.
        self.webhook_keys = {
            key: secret
            for key, secret in {**settings.LIVEKIT_WEBHOOK_KEYS, self.api_key: self.api_secret}.items()
            if key and secret
        }

    # --- tokens ------------------------------------------------------------------------------------------------------
    def _sign(self, claims: dict) -> str:
        return jwt.encode({"iss": self.api_key, **claims}, self.api_secret, algorithm="HS256")

    def _api_token(self, **grants) -> str:
        now = int(time.time())
        return self._sign({"sub": "", "nbf": now, "exp": now + API_TOKEN_SECONDS, "video": grants})

    def join_token(
        self,
        *,
        room: str,
        identity: str,
        name: str,
        metadata: str,
        not_before: dt.datetime,
        expires_at: dt.datetime,
        admin: bool = False,
    ) -> str:
        """A participant's token, valid only from ``not_before`` to ``expires_at`` (LiveKit checks both when the
        participant connects; being in the room past ``exp`` is ended by DeleteRoom at close, not by the token)."""
        video = {
            "roomJoin": True,
            "room": room,
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        }
        if admin:
            video["roomAdmin"] = True
        return self._sign(
            {
                "sub": identity,
                "name": name,
                "metadata": metadata,
                "nbf": int(not_before.timestamp()),
                "exp": int(expires_at.timestamp()),
                "video": video,
            }
        )

    def verify_webhook(self, body: bytes, authorization: str) -> dict:
        """LiveKit signs a webhook with a JWT in ``Authorization`` (no "Bearer"), whose ``iss`` is the API key it
        used and whose ``sha256`` claim is the base64 SHA-256 of the exact body. The secret is that key's (ours, or
        one of LIVEKIT_WEBHOOK_KEYS during a key rotation): ``iss`` is read unverified only to choose it, then the
        signature, ``exp`` and the body hash are checked. Raises InvalidSignature; returns the claims."""
        token = authorization.removeprefix("Bearer ").strip()
        if not token or not token.isascii():  # a JWT is base64url and dots; anything else cannot be one
            raise InvalidSignature("no Authorization token")
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise InvalidSignature(f"bad token: {type(exc).__name__}") from exc
        secret = self.webhook_keys.get(issuer) if isinstance(issuer, str) else None
        if secret is None:
            raise InvalidSignature("token from an unknown API key (iss)")  # not echoed: the sender wrote it
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidSignature(f"bad token: {type(exc).__name__}") from exc
        try:
            claimed = base64.b64decode(str(claims.get("sha256", "")), validate=True)
        except ValueError as exc:
            raise InvalidSignature("sha256 claim is not base64") from exc
        if not hmac.compare_digest(claimed, hashlib.sha256(body).digest()):
            raise InvalidSignature("body does not match the sha256 claim")
        return claims

    # --- RoomService -------------------------------------------------------------------------------------------------
    def _call(
        self, method: str, body: dict, *, grants: dict, not_found_ok: bool = False, service: str = "RoomService"
    ) -> dict | None:
        try:
            response = self.http.request(
                "POST",
                f"/twirp/livekit.{service}/{method}",
                json=body,
                headers={"Authorization": f"Bearer {self._api_token(**grants)}"},
            )
        except ProviderError as exc:
            if not_found_ok and exc.status == 404:
                return None
            raise
        return response.json() if response.content else {}

    def create_room(
        self,
        name: str,
        *,
        empty_timeout: int,
        departure_timeout: int,
        max_participants: int,
        metadata="",
        egress: dict | None = None,
    ):
        """CreateRoom is idempotent on the name: a room that exists is returned as it is. ``egress`` (RoomEgress)
        starts a recording with the room (``{"room": RoomCompositeEgressRequest}``)."""
        body = {
            "name": name,
            "empty_timeout": empty_timeout,
            "departure_timeout": departure_timeout,
            "max_participants": max_participants,
            "metadata": metadata,
        }
        if egress:
            body["egress"] = egress
        return self._call("CreateRoom", body, grants={"roomCreate": True})

    def list_egress(self, room_name: str) -> list[dict]:
        """The room's egresses (EgressInfo, snake_case), ended ones included: the backup for a lost egress_ended."""
        reply = self._call("ListEgress", {"room_name": room_name}, grants={"roomRecord": True}, service="Egress")
        return (reply or {}).get("items", [])

    def delete_room(self, name: str) -> bool:
        """Disconnects everyone. False when the room no longer exists (a retry after a timeout, LiveKit closed it)."""
        return self._call("DeleteRoom", {"room": name}, grants={"roomCreate": True}, not_found_ok=True) is not None

    def list_participants(self, name: str) -> list[dict] | None:
        """Everyone in the room now; None when the room does not exist."""
        reply = self._call(
            "ListParticipants", {"room": name}, grants={"roomAdmin": True, "room": name}, not_found_ok=True
        )
        return None if reply is None else reply.get("participants", [])
