"""A local LINE Messaging API: ``POST /v2/bot/message/push`` and ``/v2/bot/message/multicast`` on 127.0.0.1.

It validates requests as LINE does (``Authorization: Bearer <channel access token>``, JSON body, ``to`` a user id
or 1–500 of them, 1–5 messages of a known type, ``X-Line-Retry-Key`` a UUID), remembers accepted retry keys (a
repeat gets 409 with ``x-line-accepted-request-id``) and records every accepted message in ``accepted``, so a test
counts the copies each recipient got.

Recipients, as LINE answers them (LINE docs: user ids match ``U[0-9a-f]{32}``; FAQ "Do I get an error when I send a
message with a user ID that doesn't exist?"): a ``to`` that is not such an id (a push may also go to a group ``C...``
or a room ``R...``) gets 400 ``The property, 'to', in the request body is invalid (line: -, column: -)``; a
well-formed id in ``unknown`` (one LINE never issued, or issued under another provider) gets 400 ``Failed to send
messages``. Either way nothing in that request is sent and its retry key is not remembered.

Failures on demand are :class:`integrations.fakeserver.FakeService`'s (``fail_next``, ``hold``,
``fail_next_with(mode, n)``, ``chaos(fraction, seed)``), on the Messaging API only, with LINE's own modes added:
``monthly`` (429 "You have reached your monthly limit."), ``401`` and ``400``; and ``timeout_after_accept`` is
LINE's name for the shared ``timeout_after_act`` (the message IS accepted and the key remembered, but the answer
comes too late: the client sees a timeout). ``chaos`` draws from ``500, 429, timeout, timeout_after_accept``.

Follow and unfollow: ``follow(user_id)`` / ``unfollow(user_id)`` produce the webhook LINE would send, signed with
the channel secret (``X-Line-Signature``), kept in ``events`` and POSTed to ``webhook_url`` when set. By hand, the
same through ``POST /fake/follow?user=U...`` and ``/fake/unfollow?user=U...``.

Account linking, as LINE does it: ``POST /v2/bot/user/{userId}/linkToken`` issues a link token (single use, valid
10 minutes; ``link_tokens``); ``GET /dialog/bot/accountLink?linkToken=...&nonce=...`` plays LINE's account-link
dialog: it sends the signed ``accountLink`` webhook with the nonce (``result: ok`` for a live token, ``failed``
for an unknown, used or expired one, or when ``dialog_result`` says so) and redirects back to ``link_done_url``
(200 with a short page when none is set). ``POST /v2/bot/message/reply`` accepts replies to reply tokens the fake
put in its events (each once; ``replies``). ``send_text(user_id, text)`` (by hand ``POST /fake/text?user=U...&
text=link``) posts a signed text ``message`` event as that user would; ``GET /fake/replies?user=U...`` shows what
the bot answered them (the link button's URL among it).

Under load, as LINE: ``latency_ms`` and ``jitter_ms`` set the round trip of every answer (uniform in latency +-
jitter, waited outside the lock, so concurrent requests overlap); ``rate_limit`` = N answers 429 (``Retry-After:
1``, LINE's "The API rate limit has been exceeded") to a push or multicast beyond N in the last second for that
channel (access token) and endpoint, as LINE counts per channel and endpoint; such a request sends nothing and its
retry key is not remembered. Each accepted request is recorded once (a repeat of its retry key gets 409), with the
moment it was accepted; ``GET /fake/stats`` gives the counts (accepted requests and messages, duplicates, answers by
status) and ``GET /fake/accepted`` each accepted request's retry key, recipients and time, for a benchmark running
the fake in its own process.

By hand: ``python -m integrations.line.fake --port 7800 --token demo-token --secret demo-secret
--webhook-url http://127.0.0.1:8000/integrations/line/webhook/<slug>/`` (LINE_API_BASE_URL=http://127.0.0.1:7800);
add ``--latency-ms 100 --jitter-ms 20 --rate-limit 2000`` to act like LINE under load.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import secrets
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field

from integrations import fakeserver
from integrations.fakeserver import Fail, FakeService, Reply, Request, run_by_hand

PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
REPLY = "/v2/bot/message/reply"
LINK_TOKEN = re.compile(r"/v2/bot/user/(?P<user>[^/]+)/linkToken")
DIALOG = "/dialog/bot/accountLink"
LINK_TOKEN_SECONDS = 600
MAX_RECIPIENTS = 500
MAX_MESSAGES = 5
MESSAGE_TYPES = {"text", "imagemap", "image", "sticker", "flex", "template", "video", "audio", "location"}
CHAOS_MODES = ("500", "429", "timeout", "timeout_after_accept")
MODES = (*CHAOS_MODES, "timeout_after_act", "monthly", "401", "400")
MONTHLY_LIMIT = "You have reached your monthly limit."
USER_ID = re.compile(r"U[0-9a-f]{32}")
PUSH_TARGET = re.compile(r"[UCR][0-9a-f]{32}")  # a user, a group chat or a multi-person chat
INVALID_TO = "The property, 'to', in the request body is invalid (line: -, column: -)"
UNKNOWN_USER = "Failed to send messages"
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."


@dataclass
class Webhook(fakeserver.Webhook):
    signature: str

    def signed_headers(self) -> dict[str, str]:
        return {"X-Line-Signature": self.signature}


@dataclass
class Accepted:
    """One request LINE accepted (each recipient gets each message once)."""

    request_id: str
    endpoint: str  # push | multicast
    to: list[str]
    messages: list[dict]
    retry_key: str
    token: str
    at: float = field(default_factory=time.time)  # when it was accepted (epoch seconds)


class LineFake(FakeService):
    """A local LINE Messaging API (NOTIFICATION_CHANNEL=live, LINE_API_BASE_URL=http://127.0.0.1:PORT)."""

    name = "line"
    webhook_path = "/integrations/line/webhook/<slug>/"
    modes = MODES
    chaos_modes = CHAOS_MODES
    late_modes = ("timeout_after_act", "timeout_after_accept")

    def __init__(
        self,
        tokens: set[str] | None = None,
        *,
        channel_secret: str = "demo-secret",
        webhook_url: str = "",
        hang_seconds: float = 1.0,
        retry_after: int = 30,
    ):
        super().__init__(webhook_url, hang_seconds=hang_seconds, retry_after=retry_after)
        self.tokens = set(tokens or {"demo-token"})
        self.channel_secret = channel_secret
        self.accepted: list[Accepted] = []
        self.retry_keys: dict[str, str] = {}  # retry key -> accepted request id
        self.unknown: set[str] = set()  # well-formed user ids LINE refuses (never issued, or another provider's)
        self.link_tokens: dict[str, tuple[str, float, bool]] = {}  # link token -> (user id, issued at, used)
        self.reply_tokens: dict[str, str] = {}  # reply token of an event sent -> user id (removed once replied)
        self.replies: list[tuple[str, list[dict]]] = []  # (user id, messages) of each accepted reply
        self.link_done_url = ""  # where the dialog sends the browser back to (our site)
        self.dialog_result = "ok"  # what the dialog reports for a live link token ("failed": the user cancelled)
        self.rate_limit = 0  # pushes (and multicasts) a second per channel and endpoint; 0: no limit
        self.rate_limited = 0  # how many requests got the rate limit's 429
        self.statuses: Counter = Counter()  # answers by status
        self._windows: dict[tuple[str, str], deque] = {}  # (token, endpoint) -> times of the last second's requests
        self.clock = time.monotonic  # the rate limit's clock (tests move it by hand)

    def configure(self, args) -> None:
        self.tokens, self.channel_secret = {args.token}, args.secret
        self.latency_ms, self.jitter_ms, self.rate_limit = args.latency_ms, args.jitter_ms, args.rate_limit

    def dispatch(self, request: Request) -> Reply:
        reply = super().dispatch(request)
        with self.lock:
            self.statuses[reply.status] += 1
        return reply

    def _check_rate(self, token: str, endpoint: str) -> None:
        """LINE's per-channel, per-endpoint limit over a sliding second (under the lock)."""
        if not self.rate_limit:
            return
        now = self.clock()
        window = self._windows.setdefault((token, endpoint), deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.rate_limit:
            self.rate_limited += 1
            raise Fail(429, {"message": RATE_LIMITED}, {"Retry-After": "1"})
        window.append(now)

    # --- webhooks, signed as LINE signs them ---------------------------------------------------------------------
    def sign(self, body: bytes, secret: str | None = None) -> str:
        digest = hmac.new((secret or self.channel_secret).encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def follow(self, user_id: str) -> Webhook:
        return self._emit("follow", user_id)

    def unfollow(self, user_id: str) -> Webhook:
        return self._emit("unfollow", user_id)

    def send_text(self, user_id: str, text: str) -> Webhook:
        """The user writes ``text`` in the chat: a signed text ``message`` event (with a reply token)."""
        message = {"type": "text", "id": str(random.getrandbits(60)), "text": text, "quoteToken": "q"}
        return self._emit("message", user_id, message=message)

    def send_account_link(self, user_id: str, nonce: str, result: str = "ok") -> Webhook:
        """An ``accountLink`` event as LINE signs it, with any nonce (a replay, a forged nonce)."""
        return self._emit("accountLink", user_id, link={"result": result, "nonce": nonce})

    def _emit(self, kind: str, user_id: str, **fields) -> Webhook:
        event = {
            "type": kind,
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user_id},
            "webhookEventId": uuid.uuid4().hex[:26].upper(),
            "deliveryContext": {"isRedelivery": False},
            **fields,
        }
        if kind == "follow":
            event.update(follow={"isUnblocked": False})
        if kind != "unfollow":
            event["replyToken"] = secrets.token_hex(16)
            with self.lock:
                self.reply_tokens[event["replyToken"]] = user_id
        body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
        webhook = Webhook(body, self.sign(body))
        self.send_webhook(webhook)
        return webhook

    def failure_body(self, status: int) -> dict:
        return {"message": f"injected failure {status}"}

    # --- what tests read ---------------------------------------------------------------------------------------------
    def copies(self) -> Counter:
        """(recipient, first message's text or alt text) -> how many times LINE accepted it."""
        counts: Counter = Counter()
        with self.lock:
            for request in self.accepted:
                first = request.messages[0]
                label = first.get("text") or first.get("altText") or first.get("type")
                for user in request.to:
                    counts[(user, label)] += 1
        return counts

    def stats(self) -> dict:
        """What a benchmark counts: accepted requests and messages (one per recipient), duplicates (a recipient
        given the same first message twice), answers by status, 429s of the rate limit."""
        copies = self.copies()
        with self.lock:
            return {
                "accepted_requests": len(self.accepted),
                "accepted_messages": sum(copies.values()),
                "duplicates": sum(n - 1 for n in copies.values() if n > 1),
                "requests": len(self.requests),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "rate_limited": self.rate_limited,
            }

    def replies_to(self, user_id: str) -> list[str]:
        """The texts (or alt texts) of the replies ``user_id`` got, in order."""
        with self.lock:
            return [m.get("text") or m.get("altText", "") for user, ms in self.replies if user == user_id for m in ms]

    def last_link_button(self, user_id: str) -> str:
        """The URL of the newest account-link button ``user_id`` got in a reply."""
        with self.lock:
            for user, messages in reversed(self.replies):
                for message in messages:
                    if user == user_id and message.get("type") == "template":
                        return message["template"]["actions"][0]["uri"]
        raise LookupError(f"{user_id} got no link button")

    def received_by(self, user_id: str) -> list[list[dict]]:
        with self.lock:
            return [a.messages for a in self.accepted if user_id in a.to]

    def endpoint_calls(self, endpoint: str) -> list[Accepted]:
        with self.lock:
            return [a for a in self.accepted if a.endpoint == endpoint]

    # --- failures --------------------------------------------------------------------------------------------------
    def injectable(self, request: Request) -> bool:
        return request.path.startswith("/v2/bot/")  # not the by-hand pages nor the dialog

    def injected_reply(self, mode: str) -> Reply:
        if mode == "429":
            message = "The API rate limit has been exceeded. Try again later."
            return Reply(429, {"message": message}, {"Retry-After": str(self.retry_after)})
        if mode == "monthly":
            return Reply(429, {"message": MONTHLY_LIMIT})
        if mode == "401":
            return Reply(401, {"message": "Authentication failed. Confirm that the access token is valid."})
        if mode == "400":
            return Reply(400, {"message": "The request body has 1 error(s)", "details": []})
        return super().injected_reply(mode)

    def route(self, request: Request) -> Reply:
        if request.method == "POST" and request.path in ("/fake/follow", "/fake/unfollow"):
            user = request.query.get("user", "")
            if not user:
                raise Fail(400, {"message": "?user=<LINE user id> is required"})
            self._emit(request.path.removeprefix("/fake/"), user)
            return Reply(200, {"sent": request.path.removeprefix("/fake/"), "user": user})
        if request.method == "POST" and request.path == "/fake/text":
            user, text = request.query.get("user", ""), request.query.get("text", "")
            if not user or not text:
                raise Fail(400, {"message": "?user=<LINE user id>&text=<text> are required"})
            self.send_text(user, text)
            return Reply(200, {"sent": "message", "user": user})
        if request.method == "GET" and request.path == "/fake/replies":  # by hand: what the bot answered, and buttons
            user = request.query.get("user", "")
            return Reply(200, {"user": user, "replies": [ms for u, ms in self.replies if u == user]})
        if request.method == "GET" and request.path == "/fake/stats":
            return Reply(200, self.stats())
        if request.method == "GET" and request.path == "/fake/accepted":
            return Reply(200, [[a.retry_key, a.to, a.at] for a in self.accepted])
        if request.method == "GET" and request.path == DIALOG:
            return self._dialog(request)
        match = LINK_TOKEN.fullmatch(request.path)
        if request.method == "POST" and (match or request.path == REPLY):
            self._authorize(request)
            return self._issue_link_token(match["user"]) if match else self._reply(request)
        if request.method != "POST" or request.path not in (PUSH, MULTICAST):
            raise Fail(404, {"message": "Not found"})
        token = self._authorize(request)
        self._check_rate(token, request.path)
        try:
            body = request.json()
        except ValueError as exc:
            raise Fail(400, {"message": "The request body could not be parsed as JSON"}) from exc
        if not isinstance(body, dict):
            raise Fail(400, {"message": "The request body must be an object"})
        multicast = request.path == MULTICAST
        to = body.get("to")
        recipients = to if multicast else [to]
        if multicast and (not isinstance(to, list) or not 1 <= len(to) <= MAX_RECIPIENTS):
            raise Fail(400, {"message": "The request body has 1 error(s)", "details": [{"property": "to"}]})
        if not all(isinstance(user, str) and user for user in recipients):
            raise Fail(400, {"message": "The request body has 1 error(s)", "details": [{"property": "to"}]})
        if not all((USER_ID if multicast else PUSH_TARGET).fullmatch(user) for user in recipients):
            raise Fail(400, {"message": INVALID_TO})
        messages = body.get("messages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            raise Fail(400, {"message": "The request body has 1 error(s)", "details": [{"property": "messages"}]})
        for message in messages:
            if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
                raise Fail(400, {"message": "Invalid message type", "details": [{"property": "messages"}]})
            if message["type"] == "text" and not 1 <= len(message.get("text") or "") <= 5000:
                raise Fail(400, {"message": "Invalid text", "details": [{"property": "messages.text"}]})
            if message["type"] == "imagemap":
                self._check_imagemap(message)
        retry_key = request.headers.get("x-line-retry-key", "")
        if retry_key:
            try:
                uuid.UUID(retry_key)
            except ValueError as exc:
                raise Fail(400, {"message": "The retry key is not a UUID"}) from exc
            if retry_key in self.retry_keys:
                accepted = self.retry_keys[retry_key]
                raise Fail(
                    409,
                    {"message": "The retry key is already accepted", "sentMessages": []},
                    {"x-line-accepted-request-id": accepted, "x-line-request-id": secrets.token_hex(16)},
                )
        if self.unknown.intersection(recipients):
            raise Fail(400, {"message": UNKNOWN_USER})
        request_id = str(uuid.uuid4())
        if retry_key:
            self.retry_keys[retry_key] = request_id
        self.accepted.append(
            Accepted(request_id, "multicast" if multicast else "push", recipients, messages, retry_key, token)
        )
        answer = {} if multicast else {"sentMessages": [{"id": str(random.getrandbits(60)), "quoteToken": "q"}]}
        return Reply(200, answer, {"x-line-request-id": request_id})

    def _authorize(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if token not in self.tokens:
            raise Fail(401, {"message": "Authentication failed. Confirm that the access token is valid."})
        return token

    def _issue_link_token(self, user_id: str) -> Reply:
        if not USER_ID.fullmatch(user_id):
            raise Fail(400, {"message": "The value for the 'userId' parameter is invalid"})
        token = secrets.token_urlsafe(24)
        self.link_tokens[token] = (user_id, time.time(), False)
        return Reply(200, {"linkToken": token})

    def _reply(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError as exc:
            raise Fail(400, {"message": "The request body could not be parsed as JSON"}) from exc
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            raise Fail(400, {"message": "The request body has 1 error(s)", "details": [{"property": "messages"}]})
        for message in messages:
            if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
                raise Fail(400, {"message": "Invalid message type", "details": [{"property": "messages"}]})
        user = self.reply_tokens.pop(body.get("replyToken") or "", None)
        if user is None:  # never issued, or already used: LINE's answer to both
            raise Fail(400, {"message": "Invalid reply token"})
        self.replies.append((user, messages))
        return Reply(200, {"sentMessages": [{"id": str(random.getrandbits(60)), "quoteToken": "q"}]})

    def _dialog(self, request: Request) -> Reply:
        """LINE's account-link dialog: the user is who the link token was issued for; the nonce goes back to the
        bot in the signed accountLink event (``failed`` for a token that is unknown, used or older than 10 min)."""
        token, nonce = request.query.get("linkToken", ""), request.query.get("nonce", "")
        if not nonce:
            raise Fail(400, {"message": "nonce is required"})
        issued = self.link_tokens.get(token)
        if issued is None:
            raise Fail(400, {"message": "The link token is invalid"})
        user_id, at, used = issued
        self.link_tokens[token] = (user_id, at, True)
        live = not used and time.time() - at < LINK_TOKEN_SECONDS
        result = self.dialog_result if live else "failed"
        self.send_account_link(user_id, nonce, result)
        if self.link_done_url:
            return Reply(302, b"", {"Location": self.link_done_url})
        page = f"<!doctype html><title>LINE</title><p>Account link: {result}</p>".encode()
        return Reply(200, page, {"Content-Type": "text/html; charset=utf-8"})

    def _check_imagemap(self, message: dict) -> None:
        size = message.get("baseSize") or {}
        actions = message.get("actions") or []
        if (
            not message.get("baseUrl")
            or not 1 <= len(message.get("altText") or "") <= 1500
            or not size.get("width")
            or not size.get("height")
            or not 1 <= len(actions) <= 50
        ):
            raise Fail(400, {"message": "Invalid imagemap", "details": [{"property": "messages"}]})


if __name__ == "__main__":
    run_by_hand(
        LineFake(),
        token={"default": "demo-token", "help": "the channel access token it accepts"},
        secret={"default": "demo-secret", "help": "the channel secret that signs its webhooks"},
        latency_ms={"type": float, "default": 0.0, "help": "the round trip of every answer, in ms"},
        jitter_ms={"type": float, "default": 0.0, "help": "the round trip varies uniformly by +- this, in ms"},
        rate_limit={"type": int, "default": 0, "help": "429 beyond N pushes a second per channel (0: no limit)"},
    )
