"""A local Zalo: ZNS ``POST /message/template`` and the OA's OAuth v4 ``POST /v4/oa/access_token`` on 127.0.0.1
(point both ZALO_API_BASE_URL and ZALO_OAUTH_BASE_URL at it).

* Tokens: it issues and accepts access tokens as Zalo does. A refresh needs the app's ``secret_key`` header, the
  ``app_id``, ``grant_type=refresh_token`` and the *current* refresh token; it answers a new access token (valid
  ``token_seconds``) and a new refresh token, and the old refresh token stops working. ``expire_tokens()`` ends every
  access token now, ``expire_after(n)`` after n more messages (a token that expires mid-run); a send with a dead token
  gets ``-124 Access token invalid``. ``refreshes`` counts the refresh calls.
* Templates: ``template(id, params, approved=True)`` registers one; a send must name a known, approved template and
  give exactly its parameters, each a non-empty string (else -109 / the refusal of an unapproved one / -112).
* Phones: ``84`` and 9–10 digits, else -108; ``fail_phone(phone, code, message)`` makes every send to that number
  refused with that code (a blocked user, a number not on Zalo...).
* Failures on demand: the shared modes of :class:`integrations.fakeserver.FakeService` (``fail_next_with("500")``,
  ``"429"`` with Retry-After, ``"timeout"``, ``"timeout_after_act"``: the message IS sent, the answer comes too late).
* Receipts: each accepted message is in ``sent`` (a test counts the copies per phone) and, with ``receipts`` on,
  makes the signed ``user_received_message`` webhook (``X-ZEvent-Signature: mac=sha256(app_id + body + timestamp +
  OA secret key)``), kept in ``events`` and POSTed to ``webhook_url`` when set.

By hand: ``python -m integrations.zalo.fake --port 7900 --webhook-url
http://127.0.0.1:8000/integrations/zalo/webhook/<slug>/`` prints nothing secret; the demo app id, keys and the first
refresh token are its defaults below.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs

from integrations import fakeserver
from integrations.fakeserver import FakeService, Reply, Request, run_by_hand
from integrations.zalo.signing import signature

SEND = "/message/template"
REFRESH = "/v4/oa/access_token"
PHONE = re.compile(r"84\d{9,10}")
NOT_APPROVED = -131  # the code we give an unapproved template (Zalo's list is not checked for this one)


@dataclass
class Webhook(fakeserver.Webhook):
    signature: str

    def signed_headers(self) -> dict[str, str]:
        return {"X-ZEvent-Signature": self.signature}


@dataclass
class Sent:
    msg_id: str
    phone: str
    template_id: str
    data: dict
    tracking_id: str
    token: str


class ZaloFake(FakeService):
    """A local Zalo (ZNS and the OA token refresh)."""

    name = "zalo"
    webhook_path = "/integrations/zalo/webhook/<slug>/"

    def __init__(
        self,
        *,
        app_id: str = "demo-app",
        oa_id: str = "demo-oa",
        secret_key: str = "demo-secret-key",
        oa_secret_key: str = "demo-oa-secret-key",
        refresh_token: str = "demo-refresh-token",
        access_token: str = "",
        token_seconds: int = 90_000,
        webhook_url: str = "",
        hang_seconds: float = 1.0,
        retry_after: int = 30,
        receipts: bool = True,
    ):
        super().__init__(webhook_url, hang_seconds=hang_seconds, retry_after=retry_after)
        self.app_id, self.oa_id = app_id, oa_id
        self.secret_key, self.oa_secret_key = secret_key, oa_secret_key
        self.refresh_token = refresh_token
        self.token_seconds = token_seconds
        self.access_tokens: dict[str, float] = {}  # token -> expires at (time.time())
        if access_token:
            self.access_tokens[access_token] = time.time() + token_seconds
        self.templates: dict[str, tuple[tuple[str, ...], bool]] = {}
        self.phone_errors: dict[str, tuple[int, str]] = {}
        self.sent: list[Sent] = []
        self.refreshes = 0
        self.receipts = receipts
        self._expire_after: int | None = None  # access tokens end after this many more accepted messages

    def configure(self, args) -> None:
        self.any_template = True  # by hand: every template id is approved, with the parameters it is sent

    any_template = False

    # --- controls ----------------------------------------------------------------------------------------------------
    def template(self, template_id: str, params, *, approved: bool = True) -> None:
        with self.lock:
            self.templates[template_id] = (tuple(params), approved)

    def fail_phone(self, phone: str, code: int, message: str) -> None:
        with self.lock:
            self.phone_errors[phone] = (code, message)

    def expire_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def expire_after(self, sends: int) -> None:
        """Every access token issued so far ends after ``sends`` more accepted messages (mid-run)."""
        with self.lock:
            self._expire_after = sends

    def copies(self) -> Counter:
        """(phone, template id) -> how many times Zalo sent it."""
        with self.lock:
            return Counter((s.phone, s.template_id) for s in self.sent)

    def receipt(self, sent: Sent, *, app_id: str | None = None, oa_secret_key: str | None = None) -> Webhook:
        """The signed ``user_received_message`` of a sent message (another app or key: a forged one)."""
        timestamp = str(int(time.time() * 1000))
        app = app_id or self.app_id
        event = {
            "app_id": app,
            "oa_id": self.oa_id,
            "event_name": "user_received_message",
            "timestamp": timestamp,
            "sender": {"id": self.oa_id},
            "recipient": {"id": sent.phone},
            "message": {"msg_id": sent.msg_id, "tracking_id": sent.tracking_id, "delivery_time": timestamp},
        }
        body = json.dumps(event).encode()
        return Webhook(body, signature(app, body, timestamp, oa_secret_key or self.oa_secret_key))

    # --- the service ---------------------------------------------------------------------------------------------
    def failure_body(self, status: int) -> dict:
        return {"error": -100 if status >= 500 else -1, "message": f"injected failure {status}"}

    def route(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == REFRESH:
            return self._refresh(request)
        if request.method == "POST" and request.path == SEND:
            return self._send(request)
        return Reply(404, {"error": -106, "message": "Method unsupported"})

    def _refresh(self, request: Request) -> Reply:
        self.refreshes += 1
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if request.headers.get("secret_key") != self.secret_key:
            return Reply(200, {"error": -14002, "error_name": "Invalid secret key"})
        if form.get("app_id") != self.app_id or form.get("grant_type") != "refresh_token":
            return Reply(200, {"error": -14001, "error_name": "Invalid parameter"})
        if form.get("refresh_token") != self.refresh_token:
            return Reply(200, {"error": -14014, "error_name": "Invalid refresh token"})
        token, self.refresh_token = secrets.token_hex(16), secrets.token_hex(16)
        self.access_tokens[token] = time.time() + self.token_seconds
        return Reply(
            200, {"access_token": token, "refresh_token": self.refresh_token, "expires_in": str(self.token_seconds)}
        )

    def _send(self, request: Request) -> Reply:
        token = request.headers.get("access_token", "")
        if self.access_tokens.get(token, 0) <= time.time():
            return Reply(200, {"error": -124, "message": "Access token invalid"})
        try:
            body = request.json()
        except ValueError:
            return Reply(200, {"error": -121, "message": "Body data empty or not JSON"})
        phone = str(body.get("phone", ""))
        if not PHONE.fullmatch(phone):
            return Reply(200, {"error": -108, "message": "Phone number invalid"})
        template = self.templates.get(str(body.get("template_id", "")))
        if template is None and self.any_template and isinstance(body.get("template_data"), dict):
            template = (tuple(body["template_data"]), True)
        if template is None:
            return Reply(200, {"error": -109, "message": "Template ID invalid"})
        params, approved = template
        if not approved:
            return Reply(200, {"error": NOT_APPROVED, "message": "Template is not approved"})
        data = body.get("template_data")
        if not isinstance(data, dict) or set(data) != set(params):
            return Reply(200, {"error": -112, "message": f"Template data invalid: wants {sorted(params)}"})
        if not all(isinstance(v, str) and v for v in data.values()):
            return Reply(200, {"error": -112, "message": "Template data invalid: empty value"})
        if phone in self.phone_errors:
            code, message = self.phone_errors[phone]
            return Reply(200, {"error": code, "message": message})
        sent = Sent(uuid.uuid4().hex, phone, body["template_id"], data, str(body.get("tracking_id", "")), token)
        self.sent.append(sent)
        if self._expire_after is not None:
            self._expire_after -= 1
            if self._expire_after <= 0:
                self._expire_after = None
                self.access_tokens.clear()
        if self.receipts:
            self.send_webhook(self.receipt(sent))
        quota = {"dailyQuota": "1000", "remainingQuota": str(1000 - len(self.sent))}
        return Reply(
            200, {"error": 0, "message": "Success", "data": {"msg_id": sent.msg_id, "sent_time": "0", "quota": quota}}
        )


if __name__ == "__main__":
    run_by_hand(ZaloFake())
