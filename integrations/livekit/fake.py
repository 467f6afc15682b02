"""A local LiveKit server API: RoomService over Twirp JSON on 127.0.0.1, checking auth as LiveKit does.

* Every call needs ``Authorization: Bearer <JWT>`` signed HS256 with the API secret, ``iss`` = the API key, valid
  ``nbf``/``exp`` (a minute of leeway, like LiveKit); CreateRoom/DeleteRoom need the ``roomCreate`` grant,
  ListParticipants/RemoveParticipant ``roomAdmin`` with ``room`` = that room. Answers are snake_case, int64 as
  strings; errors are Twirp errors (``{"code": "not_found", "msg": ...}`` with the matching HTTP status).
* A test (or a developer) moves people in and out: ``join(token)`` checks the join token exactly as LiveKit does
  when a client connects (signature, window, roomJoin, room, the participant cap); ``leave(room, identity)``.
* Each change produces the webhook LiveKit would send (protojson camelCase body; ``Authorization`` = a JWT whose
  ``sha256`` claim is the base64 SHA-256 of the body). They are kept in ``events`` for tests to deliver, and POSTed
  to ``webhook_url`` when one is set (by hand: ``--webhook-url http://127.0.0.1:8000/integrations/livekit/webhook/``).

* Egress: a room created with the ``egress`` field (RoomEgress ``room``: a room-composite recording) starts its
  Egress at once (``egress_started``); deleting the room ends it with one MP4 file result (``egress_ended``, with
  ``fileResults``: filename, size, duration in ns, and a ``location`` this fake serves at ``/egress-files/<name>``).
  ``fail_next_egress(error)`` makes the next one end EGRESS_FAILED. ``ListEgress`` (Egress service, ``roomRecord``
  grant) lists them. Downloads of the files can fail on demand (``fail_downloads``: 500, truncated, stall).

By hand: ``python -m integrations.livekit.fake --port 7880 --key devkey --secret devsecret``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt

from integrations import fakeserver
from integrations.fakeserver import Fail, FakeService, Reply, Request, run_by_hand

PREFIX = "/twirp/livekit.RoomService/"
EGRESS_PREFIX = "/twirp/livekit.Egress/"
FILES_PATH = "/egress-files/"
LEEWAY_SECONDS = 60
HTML = {"Content-Type": "text/html; charset=utf-8"}


def twirp_error(status: int, code: str, msg: str) -> Fail:
    return Fail(status, {"code": code, "msg": msg})


@dataclass
class Webhook(fakeserver.Webhook):
    authorization: str

    content_type = "application/webhook+json"

    def signed_headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization}


class LiveKitFake(FakeService):
    """A local LiveKit RoomService for trying the system (VIDEO_PROVIDER=livekit, LIVEKIT_URL=http://127.0.0.1:PORT)."""

    name = "livekit"
    webhook_path = "/integrations/livekit/webhook/"
    download_path = FILES_PATH

    def __init__(self, api_key: str = "devkey", api_secret: str = "devsecret", webhook_url: str = ""):
        super().__init__(webhook_url)
        self.api_key, self.api_secret = api_key, api_secret
        self.rooms: dict[str, dict] = {}
        self.participants: dict[str, dict[str, dict]] = {}  # room -> identity -> ParticipantInfo
        # Rooms actually created / deleted, per name: what "exactly once" is counted on (requests may repeat).
        self.created: Counter = Counter()
        self.deleted: Counter = Counter()
        self.egresses: dict[str, dict] = {}  # egress id -> EgressInfo (snake_case)
        self.files: dict[str, bytes] = {}  # file name -> content, served at /egress-files/<name>
        self.recording_size = 64 * 1024
        self._egress_errors: list[str] = []

    def configure(self, args) -> None:
        self.api_key, self.api_secret = args.key, args.secret

    def failure_body(self, status: int) -> dict:
        return {"code": "internal" if status >= 500 else "unavailable", "msg": f"injected failure {status}"}

    # --- auth, as the LiveKit server checks it -------------------------------------------------------------------
    def _claims(self, token: str) -> dict:
        try:
            return jwt.decode(
                token,
                self.api_secret,
                algorithms=["HS256"],
                issuer=self.api_key,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise twirp_error(401, "unauthenticated", f"invalid token: {exc}") from exc

    def _grants(self, request: Request) -> dict:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise twirp_error(401, "unauthenticated", "no authorization header")
        return self._claims(header.removeprefix("Bearer ")).get("video") or {}

    # --- RoomService -----------------------------------------------------------------------------------------------
    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path in ("/join", "/leave"):
            return self._page(request)
        if request.method == "GET" and request.path.startswith(FILES_PATH):
            content = self.files.get(request.path.removeprefix(FILES_PATH))
            if content is None:
                raise twirp_error(404, "not_found", "no such file")
            return self.download_reply(content, "video/mp4")
        if request.method == "POST" and request.path.startswith(EGRESS_PREFIX):
            grants = self._grants(request)
            if request.path.removeprefix(EGRESS_PREFIX) != "ListEgress":
                raise twirp_error(404, "bad_route", f"unknown method {request.path}")
            self._need(grants, "roomRecord")
            room = (request.json() or {}).get("room_name") or ""
            return Reply(
                200, {"items": [dict(e) for e in self.egresses.values() if not room or e["room_name"] == room]}
            )
        if request.method != "POST" or not request.path.startswith(PREFIX):
            raise twirp_error(404, "bad_route", f"no handler for {request.method} {request.path}")
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise twirp_error(400, "malformed", "Content-Type must be application/json")
        grants = self._grants(request)
        try:
            body = request.json()
        except ValueError as exc:
            raise twirp_error(400, "malformed", "body is not JSON") from exc
        method = request.path.removeprefix(PREFIX)
        handler = getattr(self, f"_twirp_{method}", None)
        if handler is None:
            raise twirp_error(404, "bad_route", f"unknown method {method}")
        return Reply(200, handler(body, grants))

    def _need(self, grants: dict, grant: str, room: str | None = None) -> None:
        if not grants.get(grant) or (room is not None and grants.get("room") != room):
            raise twirp_error(403, "permission_denied", f"requires {grant}" + (f" for room {room}" if room else ""))

    def _room(self, name: str) -> dict:
        if name not in self.rooms:
            raise twirp_error(404, "not_found", "requested room does not exist")
        return self.rooms[name]

    def _twirp_CreateRoom(self, body: dict, grants: dict) -> dict:
        self._need(grants, "roomCreate")
        name = body.get("name") or ""
        if not name:
            raise twirp_error(400, "invalid_argument", "room name is required")
        if name not in self.rooms:
            self.rooms[name] = {
                "sid": f"RM_{secrets.token_hex(6)}",
                "name": name,
                "empty_timeout": int(body.get("empty_timeout") or 300),
                "departure_timeout": int(body.get("departure_timeout") or 20),
                "max_participants": int(body.get("max_participants") or 0),
                "creation_time": str(int(time.time())),
                "metadata": body.get("metadata") or "",
            }
            self.participants[name] = {}
            self.created[name] += 1
            if isinstance(body.get("egress"), dict) and isinstance(body["egress"].get("room"), dict):
                self._start_egress(self.rooms[name], body["egress"]["room"])
        return self._room_info(name)  # an existing room is returned as it is, as LiveKit does

    def _twirp_DeleteRoom(self, body: dict, grants: dict) -> dict:
        self._need(grants, "roomCreate")
        name = body.get("room") or ""
        room = self._room(name)
        for identity in list(self.participants[name]):
            self._leave(name, identity)
        del self.rooms[name], self.participants[name]
        self.deleted[name] += 1
        self._emit("room_finished", room)
        for egress in self.egresses.values():
            if egress["room_name"] == name and egress["status"] == "EGRESS_ACTIVE":
                self._end_egress(egress)
        return {}

    # --- Egress ------------------------------------------------------------------------------------------------------
    def fail_next_egress(self, error: str = "pipeline failed") -> None:
        with self.lock:
            self._egress_errors.append(error)

    def _start_egress(self, room: dict, request: dict) -> None:
        egress_id = f"EG_{secrets.token_hex(6)}"
        self.egresses[egress_id] = {
            "egress_id": egress_id,
            "room_id": room["sid"],
            "room_name": room["name"],
            "status": "EGRESS_ACTIVE",
            "started_at": str(time.time_ns()),
            "ended_at": "0",
            "error": "",
            "file_outputs": request.get("file_outputs") or [],
            "file_results": [],
        }
        self._emit_egress("egress_started", self.egresses[egress_id])

    def _end_egress(self, egress: dict) -> None:
        ended = time.time_ns()
        egress["ended_at"] = str(ended)
        if self._egress_errors:
            egress["status"], egress["error"] = "EGRESS_FAILED", self._egress_errors.pop(0)
        else:
            name = f"{egress['room_name']}-{egress['egress_id']}.mp4"
            content = (f"MP4 {egress['egress_id']} ".encode() * (self.recording_size // 16 + 1))[: self.recording_size]
            self.files[name] = content
            egress["status"] = "EGRESS_COMPLETE"
            egress["file_results"] = [
                {
                    "filename": name,
                    "started_at": egress["started_at"],
                    "ended_at": str(ended),
                    "duration": str(ended - int(egress["started_at"])),
                    "size": str(len(content)),
                    "location": f"{self.url}{FILES_PATH}{name}",
                }
            ]
        self._emit_egress("egress_ended", egress)

    def _emit_egress(self, kind: str, egress: dict) -> None:
        """An egress webhook: protojson camelCase EgressInfo, no room object."""

        def camel(key: str) -> str:
            head, *rest = key.split("_")
            return head + "".join(part.title() for part in rest)

        info = {camel(k): v for k, v in egress.items() if k not in ("file_outputs", "file_results")}
        info["fileResults"] = [{camel(k): v for k, v in row.items()} for row in egress["file_results"]]
        event = {
            "event": kind,
            "egressInfo": info,
            "id": f"EV_{secrets.token_hex(8)}",
            "createdAt": str(int(time.time())),
        }
        self.send_webhook(self.sign(json.dumps(event).encode()))

    def _twirp_ListParticipants(self, body: dict, grants: dict) -> dict:
        name = body.get("room") or ""
        self._need(grants, "roomAdmin", name)
        self._room(name)
        return {"participants": [dict(p) for p in self.participants[name].values()]}

    def _twirp_RemoveParticipant(self, body: dict, grants: dict) -> dict:
        name = body.get("room") or ""
        self._need(grants, "roomAdmin", name)
        self._room(name)
        if body.get("identity") not in self.participants[name]:
            raise twirp_error(404, "not_found", "participant not found")
        self._leave(name, body["identity"])
        return {}

    def _room_info(self, name: str) -> dict:
        return {**self.rooms[name], "num_participants": len(self.participants.get(name, {}))}

    def _page(self, request: Request) -> Reply:
        """A stand-in for the meeting page when trying the system by hand (LIVEKIT_JOIN_URL=<fake url>/join): opening
        a join link connects with its token; the page's link leaves again."""
        if request.path == "/leave":
            room, identity = request.query.get("room", ""), request.query.get("identity", "")
            if identity in self.participants.get(room, {}):
                self._leave(room, identity)
            text = f"<p>You left {html.escape(room)}.</p>"
        else:
            try:
                info = self.join(request.query.get("token", ""))
            except PermissionError as exc:
                return Reply(403, f"<p>LiveKit refused: {html.escape(str(exc))}</p>".encode(), HTML)
            room = info["room"]
            leave = "/leave?" + urlencode({"room": room, "identity": info["identity"]})
            text = (
                f"<p>{html.escape(info['name'] or info['identity'])} is in {html.escape(room)} "
                f"(fake LiveKit).</p><p><a href='{html.escape(leave)}'>Leave</a></p>"
            )
        return Reply(200, text.encode(), HTML)

    # --- people ----------------------------------------------------------------------------------------------------
    def join(self, token: str) -> dict:
        """Connect with a join token, as a LiveKit client would; raises PermissionError when LiveKit would refuse.
        Returns the ParticipantInfo plus the room's name."""
        with self.lock:
            try:
                claims = self._claims(token)
            except Fail as exc:
                raise PermissionError(exc.reply.body["msg"]) from exc
            video = claims.get("video") or {}
            room, identity = video.get("room", ""), claims.get("sub", "")
            if not video.get("roomJoin") or not room or not identity:
                raise PermissionError("token has no roomJoin grant for a room and identity")
            if room not in self.rooms:  # LiveKit would auto-create it with default settings; we want to know
                raise PermissionError(f"room {room} does not exist")
            cap = self.rooms[room]["max_participants"]
            if cap and len(self.participants[room]) >= cap and identity not in self.participants[room]:
                raise PermissionError(f"room {room} is full ({cap})")
            if identity in self.participants[room]:  # the same identity connecting again replaces the old session
                self._leave(room, identity)
            now = time.time()
            info = {
                "sid": f"PA_{secrets.token_hex(6)}",
                "identity": identity,
                "name": claims.get("name", ""),
                "metadata": claims.get("metadata", ""),
                "state": "ACTIVE",
                "joined_at": str(int(now)),
                "joined_at_ms": str(int(now * 1000)),
                "is_publisher": False,
                "kind": "STANDARD",
            }
            self.participants[room][identity] = info
            self._emit("participant_joined", self.rooms[room], info)
            return {**info, "room": room}

    def leave(self, room: str, identity: str) -> None:
        with self.lock:
            self._leave(room, identity)

    def _leave(self, room: str, identity: str) -> None:
        info = self.participants[room].pop(identity)
        self._emit("participant_left", self.rooms[room], {**info, "state": "DISCONNECTED"})

    def in_room(self, room: str) -> list[str]:
        with self.lock:
            return sorted(self.participants.get(room, {}))

    # --- webhooks, signed as LiveKit signs them ----------------------------------------------------------------------
    def _emit(self, kind: str, room: dict, participant: dict | None = None) -> None:
        now = int(time.time())
        event = {
            "event": kind,
            "room": {
                "sid": room["sid"],
                "name": room["name"],
                "emptyTimeout": room["empty_timeout"],
                "maxParticipants": room["max_participants"],
                "creationTime": room["creation_time"],
                "numParticipants": len(self.participants.get(room["name"], {})),
            },
            "id": f"EV_{secrets.token_hex(8)}",
            "createdAt": str(now),
        }
        if participant is not None:
            event["participant"] = {
                "sid": participant["sid"],
                "identity": participant["identity"],
                "name": participant["name"],
                "metadata": participant["metadata"],
                "state": participant["state"],
                "joinedAt": participant["joined_at"],
                "joinedAtMs": participant["joined_at_ms"],
            }
        webhook = self.sign(json.dumps(event).encode())
        self.send_webhook(webhook)

    def sign(self, body: bytes, *, secret: str | None = None, key: str | None = None) -> Webhook:
        """As LiveKit signs a webhook: a JWT whose ``iss`` is the API key (``key``: another one, as after a key
        rotation) and whose ``sha256`` is the body's hash, signed with ``secret`` (the fake's own by default)."""
        now = int(time.time())
        token = jwt.encode(
            {
                "iss": key or self.api_key,
                "nbf": now,
                "exp": now + 300,
                "sha256": base64.b64encode(hashlib.sha256(body).digest()).decode(),
            },
            secret or self.api_secret,
            algorithm="HS256",
        )
        return Webhook(body, token)


if __name__ == "__main__":
    run_by_hand(LiveKitFake(), key={"default": "devkey"}, secret={"default": "devsecret"})
