"""ZNS: send one approved template to one phone number, and say what Zalo's answer means.

``POST {ZALO_API_BASE_URL}/message/template`` with the header ``access_token`` and the JSON body
``{"phone": "84…", "template_id": "…", "template_data": {…}, "tracking_id": "…"}``. Zalo answers HTTP 200 whatever
happened: ``{"error": 0, "message": "Success", "data": {"msg_id": …, "sent_time": …, "quota": {…}}}`` when it
accepted the message, a negative ``error`` and a ``message`` when it refused it.

What an answer means here (:class:`Answer`):

* ``accepted``: error 0; the message is sent (``msg_id`` is Zalo's id, also in the receipt webhook).
* ``token``: -124 "access token invalid" (expired or revoked): nothing was sent; the caller refreshes and resends.
* ``refused``: any other negative code is Zalo's definite refusal: nothing was sent, and the same call cannot succeed
  later (template not approved, user blocked or not on Zalo, quota used up, invalid phone, bad parameters...):
  failed for good with Zalo's code and message. An HTTP 429 (rate limit) is refused too but transient, with its
  ``Retry-After``; so is a connection that never reached Zalo.
* ``unknown``: no answer (timeout, dropped connection), an HTTP 5xx, or -100 "unknown error": Zalo may or may not have
  sent it. See integrations/zalo/channel.py, "Exactly once", for what the next attempt does.

The codes we name below are those Zalo's ZNS error page lists (-100 to -112 checked there, -118 and -124 in several
clients); every other negative code is treated alike, as a refusal, with Zalo's own message as the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings

from integrations.http import HttpClient, ProviderError, _never_sent

logger = logging.getLogger("classroom.zalo")

SEND_PATH = "/message/template"
TOKEN_INVALID = -124
UNKNOWN_ERROR = -100
KNOWN_ERRORS = {
    -100: "unknown error",
    -108: "phone number invalid",
    -109: "template id invalid",
    -111: "template data empty",
    -112: "template data invalid",
    -118: "Zalo account does not exist (the number is not on Zalo)",
    -124: "access token invalid",
}


@dataclass
class Answer:
    outcome: str  # accepted | token | refused | unknown
    error: str = ""
    permanent: bool = False
    msg_id: str = ""
    retry_after: float | None = None
    code: int | None = None


def client() -> HttpClient:
    # No retries inside the helper: a ZNS send is not idempotent (ZNS has no retry key), so only the sweep decides
    # whether to send again; the helper still resends a request that certainly never left (connection refused).
    return HttpClient("zalo", settings.ZALO_API_BASE_URL)


def send(http: HttpClient, token: str, phone: str, template_id: str, data: dict, tracking_id: str) -> Answer:
    body = {"phone": phone, "template_id": template_id, "template_data": data, "tracking_id": tracking_id}
    try:
        response = http.request(
            "POST",
            SEND_PATH,
            idempotent=False,
            headers={"access_token": token, "Content-Type": "application/json"},
            data=json.dumps(body, ensure_ascii=False).encode(),
        )
    except ProviderError as exc:
        return _failure(exc)
    try:
        answer = response.json()
        code = int(answer.get("error", UNKNOWN_ERROR))
    except (ValueError, TypeError, AttributeError):
        return Answer("unknown", error=f"Zalo ZNS: unreadable answer (HTTP {response.status_code})")
    message = str(answer.get("message") or KNOWN_ERRORS.get(code, ""))[:200]
    if code == 0:
        msg_id = str((answer.get("data") or {}).get("msg_id") or "")
        return Answer("accepted", msg_id=msg_id, code=0)
    error = f"Zalo ZNS {code}: {message}"
    if code == TOKEN_INVALID:
        return Answer("token", error=error, code=code)
    if code == UNKNOWN_ERROR:
        return Answer("unknown", error=error, code=code)
    return Answer("refused", error=error, permanent=True, code=code)


def _failure(exc: ProviderError) -> Answer:
    if exc.status == 429:
        return Answer("refused", error=f"Zalo ZNS rate limited: {exc}", retry_after=exc.retry_after)
    if exc.status is None and exc.__cause__ is not None and _never_sent(exc.__cause__):
        return Answer("refused", error=str(exc))  # it never reached Zalo: plainly retried
    if exc.status is None or exc.status >= 500:
        return Answer("unknown", error=str(exc), retry_after=exc.retry_after)
    return Answer("refused", error=str(exc), permanent=True)
