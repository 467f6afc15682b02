"""A local Zoom: Server-to-Server OAuth and the REST API v2 calls we use, on 127.0.0.1, checking auth as Zoom does.

* ``POST /oauth/token`` needs ``Authorization: Basic base64(client_id:client_secret)`` of a registered app and
  ``grant_type=account_credentials`` with that app's ``account_id`` (form body or query); it returns a bearer token
  that lives ``token_ttl`` seconds (3600).
* ``/v2/...`` needs ``Authorization: Bearer <token>`` (unknown or expired: 401 code 124), and a host user of the
  token's account. Meeting create/update requests are counted per host user per UTC day: over ``daily_limit`` (100)
  the answer is 429 with Zoom's daily-limit message.
* Calls: create (``POST /v2/users/{userId}/meetings``), a host's meetings (``GET /v2/users/{userId}/meetings``,
  paged, ``agenda`` cut to 250 characters, no ``start_url``/``password``, as Zoom lists them), ``GET/DELETE
  /v2/meetings/{id}``, end
  (``PUT /v2/meetings/{id}/status``), the participants report (``GET /v2/report/meetings/{id}/participants``,
  paged, Pro plan or higher).
* ``fail_after_create(n, status=500)``: the next ``n`` creates make the meeting, then answer ``status`` (an error
  answer that is not the whole truth: the client must not conclude that nothing was created).
* People: ``join(meeting_id, name, email=..., host=...)`` and ``leave(meeting_id, user_id)``; each produces the
  signed webhook Zoom would send (kept in ``events``; POSTed to ``webhook_url`` when set).
* Cloud recordings: a meeting made with ``settings.auto_recording: cloud`` on a licensed (not Basic) host is
  recorded while it runs; ending it leaves a video (MP4), an audio (M4A) and a chat file, completed then.
  ``complete_recording(meeting_id, times=1)`` sends ``recording.completed`` (``times=0``: never; ``2``: twice,
  the copies differing only in the download URL and token; call it after travelling in time: late). Each event's
  ``download_token`` expires 24 h after the recording completed, as Zoom's does. ``GET
  /v2/meetings/{uuid}/recordings`` (UUIDs encoded once, or twice when they begin with ``/`` or contain ``//``)
  lists the files with a fresh ``download_access_token``; ``DELETE /v2/meetings/{uuid}/recordings/{file id}``
  moves one to the trash; ``GET /rec/download/{file id}`` serves it to a valid download token or OAuth token.
  ``fail_downloads(mode, n)``: the next ``n`` downloads answer 500, are cut off half-way (``truncated``), or stall
  longer than the client's read timeout (``stall``).

By hand: ``python -m integrations.zoom.fake --port 7990 --account-id acc --client-id cid --client-secret csecret
--host-user-id host1 --webhook-secret-token wsecret`` (then add that account in the admin).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlencode

from integrations import fakeserver
from integrations.fakeserver import Fail, FakeService, Reply, Request, run_by_hand

DAILY_LIMIT_MESSAGE = (
    "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this "
    "particular user. You may resume these requests at GMT 00:00:00."
)
START_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MEETING_PATH = re.compile(r"^/v2/meetings/(\d+)(/status)?$")
REPORT_PATH = re.compile(r"^/v2/report/meetings/(\d+)/participants$")
CREATE_PATH = re.compile(r"^/v2/users/([^/]+)/meetings$")
PAGE_PATH = re.compile(r"^/(j|s|leave)(?:/(\d+))?$")
RECORDINGS_PATH = re.compile(r"^/v2/meetings/([^/]+)/recordings(?:/([^/]+))?$")
DOWNLOAD_PATH = re.compile(r"^/rec/download/([^/]+)$")
DOWNLOAD_TOKEN_HOURS = 24
HTML = {"Content-Type": "text/html; charset=utf-8"}


def zoom_error(status: int, code: int, message: str) -> Fail:
    return Fail(status, {"code": code, "message": message})


def utc(seconds: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if seconds is None else seconds, tz=dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@dataclass
class Webhook(fakeserver.Webhook):
    timestamp: str
    signature: str

    def signed_headers(self) -> dict[str, str]:
        return {"x-zm-request-timestamp": self.timestamp, "x-zm-signature": self.signature}


class ZoomFake(FakeService):
    """A local Zoom (OAuth + REST API) for trying the system (VIDEO_PROVIDER=zoom, ZOOM_API_URL=ZOOM_OAUTH_URL=it)."""

    name = "zoom"
    webhook_path = "/integrations/zoom/webhook/"
    download_path = "/rec/download/"

    def __init__(self, webhook_secret_token: str = "", webhook_url: str = "", daily_limit: int = 100):
        super().__init__(webhook_url)
        self.webhook_secret_token, self.daily_limit = webhook_secret_token, daily_limit
        self.token_ttl = 3600
        self.apps: dict[str, dict] = {}  # client id -> {secret, account_id}
        self.accounts: dict[str, dict] = {}  # account id -> {plan, users}
        self.tokens: dict[str, dict] = {}  # access token -> {account_id, expires_at}
        self.meetings: dict[int, dict] = {}
        self.daily: dict[tuple[str, str], int] = {}  # (host user, UTC date) -> create/update requests
        self._next_id = 81_234_567_890  # Zoom ids are beyond 32 bits: a bigint is needed
        self._fail_after_create: list[int] = []  # statuses the next creates answer after creating
        # Cloud recordings: uuid -> {meeting_id, uuid, account_id, completed_at, files: [...]}; file id -> bytes;
        # download token -> expiry (time.time()) (download faults: fakeserver.fail_downloads).
        self.recordings: dict[str, dict] = {}
        self.file_bytes: dict[str, bytes] = {}
        self.download_tokens: dict[str, float] = {}
        self.recording_size = 48 * 1024

    def configure(self, args) -> None:
        self.webhook_secret_token = args.webhook_secret_token
        self.add_account(args.account_id, args.client_id, args.client_secret, users=[args.host_user_id])

    def add_account(self, account_id: str, client_id: str, client_secret: str, *, users, plan: str = "pro") -> None:
        with self.lock:
            self.apps[client_id] = {"secret": client_secret, "account_id": account_id}
            self.accounts[account_id] = {"plan": plan, "users": set(users)}

    def failure_body(self, status: int) -> dict:
        return {"code": status, "message": f"injected failure {status}"}

    # --- controls ------------------------------------------------------------------------------------------------
    def set_requests_today(self, user_id: str, count: int) -> None:
        """Requests made by someone else today (another app, the web portal): our counter does not know them."""
        with self.lock:
            self.daily[(user_id, utc()[:10])] = count

    def requests_today(self, user_id: str) -> int:
        with self.lock:
            return self.daily.get((user_id, utc()[:10]), 0)

    def fail_after_create(self, n: int = 1, *, status: int = 500) -> None:
        """The next ``n`` creates make the meeting (and count against the host's day), then answer ``status``."""
        with self.lock:
            self._fail_after_create += [status] * n

    def recording_of(self, meeting_id: int) -> dict | None:
        with self.lock:
            return next((r for r in self.recordings.values() if r["meeting_id"] == meeting_id), None)

    def _download_token(self, completed_at: float) -> str:
        token = "dl-" + secrets.token_urlsafe(24)
        self.download_tokens[token] = completed_at + DOWNLOAD_TOKEN_HOURS * 3600
        return token

    def _record(self, meeting: dict) -> None:
        """A recorded meeting ended: its files, completed now (Zoom takes a while; tests send the webhook later)."""
        if (
            meeting["settings"].get("auto_recording") != "cloud"
            or self.accounts[meeting["account_id"]]["plan"] == "basic"
        ):
            return
        files = []
        for n, (file_type, recording_type) in enumerate(
            [("MP4", "shared_screen_with_speaker_view"), ("M4A", "audio_only"), ("CHAT", "chat_file")]
        ):
            file_id = f"{meeting['id']}-{secrets.token_hex(6)}-{n}"
            content = (f"{file_type} of {meeting['id']} ".encode() * (self.recording_size // 16 + 1))[
                : self.recording_size // (1 if n == 0 else 4)
            ]
            self.file_bytes[file_id] = content
            files.append(
                {
                    "id": file_id,
                    "meeting_id": meeting["uuid"],
                    "recording_start": meeting["sessions"][0]["join_time"] if meeting["sessions"] else utc(),
                    "recording_end": utc(),
                    "file_type": file_type,
                    "file_extension": file_type,
                    "file_size": len(content),
                    "play_url": f"{self.url}/rec/play/{file_id}",
                    "download_url": f"{self.url}/rec/download/{file_id}",
                    "status": "completed",
                    "recording_type": recording_type,
                }
            )
        self.recordings[meeting["uuid"]] = {
            "meeting_id": meeting["id"],
            "uuid": meeting["uuid"],
            "account_id": meeting["account_id"],
            "completed_at": time.time(),
            "files": files,
        }

    def complete_recording(self, meeting_id: int, *, times: int = 1) -> list:
        """Send ``recording.completed`` for the meeting's recording ``times`` times (Zoom's duplicates: a new download
        URL and token each time); returns the webhooks."""
        sent = []
        with self.lock:
            recording = self.recording_of(meeting_id)
            if recording is None:
                raise KeyError(f"meeting {meeting_id} was not recorded (not cloud, or a Basic host, or never ended)")
            meeting = self.meetings[meeting_id]
            for n in range(times):
                token = self._download_token(recording["completed_at"])
                files = [
                    dict(f, download_url=f"{f['download_url']}?copy={len(self.events)}-{n}") for f in recording["files"]
                ]
                event = {
                    "event": "recording.completed",
                    "event_ts": int(time.time() * 1000) + n,
                    "download_token": token,
                    "payload": {
                        "account_id": recording["account_id"],
                        "object": {
                            "uuid": recording["uuid"],
                            "id": meeting_id,
                            "host_id": meeting["host_id"],
                            "topic": meeting["topic"],
                            "type": 2,
                            "start_time": meeting["start_time"],
                            "duration": meeting["duration"],
                            "total_size": sum(f["file_size"] for f in files),
                            "recording_count": len(files),
                            "recording_files": files,
                        },
                    },
                }
                webhook = self.sign(json.dumps(event).encode())
                self.send_webhook(webhook)
                sent.append(webhook)
        return sent

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def join(self, meeting_id: int, name: str, *, email: str = "", host: bool = False) -> str:
        """Someone enters the meeting; returns their per-join ``user_id`` (a rejoin gets a new one)."""
        with self.lock:
            meeting = self.meetings[meeting_id]
            if meeting["status"] == "ended":  # started again: a new instance of the meeting, with a new uuid
                meeting["uuid"] = base64.b64encode(secrets.token_bytes(16)).decode()
            meeting["status"] = "started"
            user_id = str(16_778_240 + len(meeting["sessions"]) * 1024)
            session = {
                "id": meeting["host_id"] if host else "",
                "user_id": user_id,
                "name": name,
                "user_email": email,
                "join_time": utc(),
                "leave_time": None,
            }
            meeting["sessions"].append(session)
            self._emit("meeting.participant_joined", meeting, session)
            return user_id

    def leave(self, meeting_id: int, user_id: str) -> None:
        with self.lock:
            meeting = self.meetings[meeting_id]
            session = next(s for s in meeting["sessions"] if s["user_id"] == user_id and not s["leave_time"])
            self._leave(meeting, session)

    def _leave(self, meeting: dict, session: dict) -> None:
        session["leave_time"] = utc()
        self._emit("meeting.participant_left", meeting, session)

    def in_meeting(self, meeting_id: int) -> list[str]:
        with self.lock:
            return [s["name"] for s in self.meetings[meeting_id]["sessions"] if not s["leave_time"]]

    # --- routing -----------------------------------------------------------------------------------------------------
    def route(self, request: Request) -> Reply:
        if request.path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        if request.method == "GET" and (match := PAGE_PATH.match(request.path)):
            return self._page(request, match.group(1), int(match.group(2) or 0))
        if request.method == "GET" and (match := DOWNLOAD_PATH.match(request.path)):
            return self._download(request, match.group(1))
        if not request.path.startswith("/v2/"):
            raise zoom_error(404, 404, "Not found")
        account_id = self._bearer(request)
        if match := RECORDINGS_PATH.match(request.path):
            return self._recordings(request, account_id, match.group(1), match.group(2))
        if (match := CREATE_PATH.match(request.path)) and request.method == "POST":
            return self._create(request, account_id, match.group(1))
        if (match := CREATE_PATH.match(request.path)) and request.method == "GET":
            return self._list(request, account_id, match.group(1))
        if match := REPORT_PATH.match(request.path):
            return self._report(request, account_id, int(match.group(1)))
        if match := MEETING_PATH.match(request.path):
            meeting = self._meeting(account_id, int(match.group(1)))
            if match.group(2) and request.method == "PUT":
                return self._status(request, meeting)
            if not match.group(2) and request.method == "GET":
                return Reply(200, self._public(meeting, fresh_start_url=True))
            if not match.group(2) and request.method == "DELETE":
                del self.meetings[meeting["id"]]
                return Reply(204)
        raise zoom_error(404, 404, f"No route for {request.method} {request.path}")

    def _page(self, request: Request, kind: str, meeting_id: int) -> Reply:
        """Stand-ins for Zoom's pages when trying the system by hand: the join link (``/j/<id>?uname=``) and the
        host link (``/s/<id>?zak=``) enter the meeting; the page's link leaves it."""
        if kind == "leave":
            meeting_id, user_id = int(request.query.get("meeting", 0)), request.query.get("user_id", "")
            if any(
                s["user_id"] == user_id and not s["leave_time"]
                for s in self.meetings.get(meeting_id, {}).get("sessions", [])
            ):
                self.leave(meeting_id, user_id)
            return Reply(200, b"<p>You left the meeting.</p>", HTML)
        if meeting_id not in self.meetings:
            return Reply(404, b"<p>This meeting ID is not valid.</p>", HTML)
        name = request.query.get("uname") or ("Host" if kind == "s" else "Guest")
        user_id = self.join(meeting_id, name, host=kind == "s")
        leave = html.escape("/leave?" + urlencode({"meeting": meeting_id, "user_id": user_id}))
        text = f"<p>{html.escape(name)} is in meeting {meeting_id} (fake Zoom).</p><p><a href='{leave}'>Leave</a></p>"
        return Reply(200, text.encode(), HTML)

    # --- auth, as Zoom checks it ------------------------------------------------------------------------------------
    def _token(self, request: Request) -> Reply:
        header = request.headers.get("authorization", "")
        try:
            client_id, _, client_secret = (
                base64.b64decode(header.removeprefix("Basic "), validate=True).decode().partition(":")
            )
        except ValueError:
            client_id = client_secret = ""
        app = self.apps.get(client_id)
        if not header.startswith("Basic ") or app is None or not hmac.compare_digest(app["secret"], client_secret):
            raise Fail(401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()} | request.query
        if form.get("grant_type") != "account_credentials":
            raise Fail(400, {"reason": "Unsupported grant type", "error": "unsupported_grant_type"})
        if form.get("account_id") != app["account_id"]:
            raise Fail(400, {"reason": "Invalid account_id", "error": "invalid_request"})
        token = secrets.token_urlsafe(24)
        self.tokens[token] = {"account_id": app["account_id"], "expires_at": time.time() + self.token_ttl}
        return Reply(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl, "scope": "meeting:write"},
        )

    def _bearer(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        token = self.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        if token is None:
            raise zoom_error(401, 124, "Invalid access token.")
        if token["expires_at"] <= time.time():
            raise zoom_error(401, 124, "Access token is expired.")
        return token["account_id"]

    def _meeting(self, account_id: str, meeting_id: int) -> dict:
        meeting = self.meetings.get(meeting_id)
        if meeting is None or meeting["account_id"] != account_id:
            raise zoom_error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        return meeting

    # --- meetings --------------------------------------------------------------------------------------------------
    def _create(self, request: Request, account_id: str, user_id: str) -> Reply:
        if user_id not in self.accounts[account_id]["users"]:
            raise zoom_error(404, 1001, f"User does not exist: {user_id}.")
        day = utc()[:10]
        if self.daily.get((user_id, day), 0) >= self.daily_limit:
            raise zoom_error(429, 429, DAILY_LIMIT_MESSAGE)
        self.daily[(user_id, day)] = self.daily.get((user_id, day), 0) + 1
        try:
            body = request.json()
        except ValueError as exc:
            raise zoom_error(400, 300, "Request Body should be a valid JSON object.") from exc
        problems = []
        if body.get("type") != 2:
            problems.append("type must be 2 (scheduled)")
        if not START_TIME.match(str(body.get("start_time", ""))):
            problems.append("start_time must be yyyy-MM-ddTHH:mm:ssZ")
        if not isinstance(body.get("duration"), int) or body["duration"] <= 0:
            problems.append("duration must be a positive number of minutes")
        if len(str(body.get("password", ""))) > 10:
            problems.append("password: at most 10 characters")
        if problems:
            raise zoom_error(400, 300, "Validation Failed. " + "; ".join(problems))
        meeting_id = self._next_id
        self._next_id += 1_000_003
        password = body.get("password") or secrets.token_hex(3)
        self.meetings[meeting_id] = {
            "id": meeting_id,
            "uuid": base64.b64encode(secrets.token_bytes(16)).decode(),
            "account_id": account_id,
            "host_id": user_id,
            "topic": body.get("topic", ""),
            "agenda": str(body.get("agenda", ""))[:2000],
            "type": 2,
            "start_time": body["start_time"],
            "duration": body["duration"],
            "timezone": body.get("timezone", "UTC"),
            "password": password,
            "settings": body.get("settings", {}),
            "status": "waiting",
            "created_at": utc(),
            "join_url": f"{self.url}/j/{meeting_id}?pwd={secrets.token_urlsafe(12)}",
            "sessions": [],
        }
        if self._fail_after_create:
            status = self._fail_after_create.pop(0)
            self.injected[f"{status}_after_create"] += 1
            raise zoom_error(status, status, f"injected failure {status} after the meeting was created")
        return Reply(201, self._public(self.meetings[meeting_id], fresh_start_url=True))

    def _list(self, request: Request, account_id: str, user_id: str) -> Reply:
        if user_id not in self.accounts[account_id]["users"]:
            raise zoom_error(404, 1001, f"User does not exist: {user_id}.")
        kind = request.query.get("type", "scheduled")
        if kind not in ("scheduled", "live", "upcoming"):
            raise zoom_error(400, 300, f"Invalid type: {kind}.")
        rows = [
            m
            for m in sorted(self.meetings.values(), key=lambda m: m["id"])
            if m["host_id"] == user_id
            and (kind == "scheduled" or (kind == "live") == (m["status"] == "started"))
            and (kind != "upcoming" or m["start_time"] >= utc())
        ]
        size = min(int(request.query.get("page_size", 30)), 300)
        start = int(request.query.get("next_page_token") or 0)
        listed = ("uuid", "id", "host_id", "topic", "type", "start_time", "duration", "timezone", "created_at")
        page = [
            {**{k: m[k] for k in listed}, "agenda": m["agenda"][:250], "join_url": m["join_url"]}
            for m in rows[start : start + size]
        ]
        return Reply(
            200,
            {
                "page_size": size,
                "total_records": len(rows),
                "next_page_token": str(start + size) if start + size < len(rows) else "",
                "meetings": page,
            },
        )

    def _public(self, meeting: dict, *, fresh_start_url: bool) -> dict:
        public = {k: v for k, v in meeting.items() if k not in ("sessions", "account_id")}
        if fresh_start_url:  # a new zak each time, as Zoom does; it expires after 2 hours there
            public["start_url"] = f"{self.url}/s/{meeting['id']}?zak={secrets.token_urlsafe(16)}"
        return public

    def _status(self, request: Request, meeting: dict) -> Reply:
        if (request.json() or {}).get("action") != "end":
            raise zoom_error(400, 300, "Invalid action.")
        if meeting["status"] != "started":
            raise zoom_error(400, 3063, "Can not end a meeting that is not started.")
        for session in meeting["sessions"]:
            if not session["leave_time"]:
                self._leave(meeting, session)
        meeting["status"] = "ended"
        self._emit("meeting.ended", meeting)
        self._record(meeting)
        return Reply(204)

    # --- cloud recordings ------------------------------------------------------------------------------------------
    def _recordings(self, request: Request, account_id: str, raw_id: str, file_id: str | None) -> Reply:
        key = unquote(raw_id)
        if "%" in key:  # double-encoded, as Zoom requires for a UUID that begins with / or contains //
            key = unquote(key)
        recording = self.recordings.get(key)
        if recording is None and key.isdigit():  # the numeric id: the latest instance
            recording = self.recording_of(int(key))
        if recording is None or recording["account_id"] != account_id:
            raise zoom_error(404, 3301, "There is no recording for this meeting.")
        if request.method == "DELETE" and file_id:
            kept = [f for f in recording["files"] if f["id"] != unquote(file_id)]
            if len(kept) == len(recording["files"]):
                raise zoom_error(404, 3301, "File does not exist.")
            recording["files"] = kept
            self.file_bytes.pop(unquote(file_id), None)
            return Reply(204)
        if request.method != "GET" or file_id:
            raise zoom_error(404, 404, f"No route for {request.method} {request.path}")
        meeting = self.meetings.get(recording["meeting_id"], {})
        body = {
            "uuid": recording["uuid"],
            "id": recording["meeting_id"],
            "account_id": account_id,
            "host_id": meeting.get("host_id", ""),
            "topic": meeting.get("topic", ""),
            "recording_count": len(recording["files"]),
            "recording_files": recording["files"],
        }
        if "download_access_token" in request.query.get("include_fields", ""):
            body["download_access_token"] = self._download_token(time.time())
        return Reply(200, body)

    def _download(self, request: Request, file_id: str) -> Reply:
        header = request.headers.get("authorization", "")
        token = (
            header.removeprefix("Bearer ") if header.startswith("Bearer ") else request.query.get("access_token", "")
        )
        expires = self.download_tokens.get(token)
        oauth = self.tokens.get(token)
        if expires is None and oauth is None:
            raise zoom_error(401, 124, "Invalid access token.")
        if (expires if expires is not None else oauth["expires_at"]) <= time.time():
            raise zoom_error(401, 124, "Access token is expired.")
        content = self.file_bytes.get(file_id)
        if content is None:
            raise zoom_error(404, 3301, "File does not exist.")
        return self.download_reply(content, "video/mp4" if content.startswith(b"MP4") else "application/octet-stream")

    def _report(self, request: Request, account_id: str, meeting_id: int) -> Reply:
        if self.accounts[account_id]["plan"] == "basic":
            raise zoom_error(400, 200, "Only available for Paid or ZMP account.")
        meeting = self._meeting(account_id, meeting_id)
        size = min(int(request.query.get("page_size", 30)), 300)
        start = int(request.query.get("next_page_token") or 0)
        rows = meeting["sessions"]
        page = rows[start : start + size]
        for row in page:
            row["duration"] = int(
                (
                    dt.datetime.fromisoformat(row["leave_time"] or utc()) - dt.datetime.fromisoformat(row["join_time"])
                ).total_seconds()
            )
        return Reply(
            200,
            {
                "page_count": max(1, -(-len(rows) // size)),
                "page_size": size,
                "total_records": len(rows),
                "next_page_token": str(start + size) if start + size < len(rows) else "",
                "participants": [dict(row, leave_time=row["leave_time"] or utc(), status="in_meeting") for row in page],
            },
        )

    # --- webhooks, signed as Zoom signs them -----------------------------------------------------------------------
    def _emit(self, kind: str, meeting: dict, session: dict | None = None) -> None:
        if not self.webhook_secret_token:
            return
        obj = {
            "id": str(meeting["id"]),
            "uuid": meeting["uuid"],
            "host_id": meeting["host_id"],
            "topic": meeting["topic"],
            "type": 2,
            "start_time": meeting["start_time"],
            "duration": meeting["duration"],
            "timezone": meeting["timezone"],
        }
        if kind == "meeting.ended":
            obj["end_time"] = utc()
        if session is not None:
            participant = {
                "user_id": session["user_id"],
                "user_name": session["name"],
                "id": session["id"],
                "email": session["user_email"],
            }
            if kind.endswith("joined"):
                participant["join_time"] = session["join_time"]
            else:
                participant["leave_time"] = session["leave_time"]
                participant["leave_reason"] = "left the meeting"
            obj["participant"] = participant
        event = {
            "event": kind,
            "event_ts": int(time.time() * 1000),
            "payload": {"account_id": meeting["account_id"], "object": obj},
        }
        self.send_webhook(self.sign(json.dumps(event).encode()))

    def sign(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> Webhook:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        # Over the raw bytes (for UTF-8 bodies the same as Zoom's string), so tests can sign bodies that are not UTF-8.
        mac = hmac.new((secret or self.webhook_secret_token).encode(), f"v0:{ts}:".encode() + body, "sha256")
        return Webhook(body, ts, "v0=" + mac.hexdigest())


if __name__ == "__main__":
    run_by_hand(
        ZoomFake(),
        account_id={"default": "fake-account"},
        client_id={"default": "fake-client"},
        client_secret={"default": "fake-client-secret"},
        host_user_id={"default": "fake-host"},
        webhook_secret_token={"default": ""},
    )
