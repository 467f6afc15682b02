"""The base of the local fakes (``integrations/livekit/fake.py``, ``integrations/zoom/fake.py``,
``integrations/line/fake.py``).

A fake is a real HTTP server on 127.0.0.1 (stdlib ``ThreadingHTTPServer``, port 0 = any free port) that a test
starts in a thread or a developer runs by hand. It records every request (``requests``; those that reached the
service's route, i.e. were acted on, also in ``served``) and can be told to misbehave:

* ``fail_next(n, status=500)``: the next ``n`` requests get that error answer (before auth is checked);
* ``hold()``: requests wait until the returned ``threading.Event`` is set (a "slow" service without sleeping);
* ``fail_fraction(0.3, seed=7)``: a seeded random share of requests fail with 500 (reproducible chaos);
* ``fail_next_with(mode, n)``: the next ``n`` requests fail in a mode of :data:`MODES`:

  - ``500``: an error answer; ``429``: rate limited, with ``Retry-After: retry_after`` (long by default, so the
    client does not sleep through it: integrations/http.py hands a long wait back to the caller);
  - ``timeout``: the fake waits ``hang_seconds`` (longer than the client's read timeout), then answers 500, having
    done nothing;
  - ``timeout_after_act``: the fake runs the route (the side effect happens: a meeting is created, a message
    accepted), then waits ``hang_seconds`` before answering: the client sees a timeout for something that was done;
* ``chaos(0.3, seed=7, modes=CHAOS_MODES)``: a seeded share of requests fails in a mode drawn from ``modes``.
* ``fail_downloads(mode, n)``: the next ``n`` file downloads (a fake's ``download_reply``) answer 500, are cut off
  half-way (``truncated``: the whole Content-Length announced, half the bytes sent), or stall longer than the
  client's read timeout (``stall``, the ``timeout`` mode on ``download_path``).

``injected`` counts the failures injected per mode. The hangs wait on an event that ``stop()`` sets, so no test
sleeps on them for longer than it asked, and stopping a fake never waits for a hanging request.

The webhooks a fake sends are :class:`Webhook` subclasses (the body and the headers that sign it, as the service
sends them and as Django test-client arguments): ``send_webhook`` keeps each in ``events`` and POSTs it to
``webhook_url`` when one is set. By hand, :func:`run_by_hand` serves a fake until Ctrl-C.

Subclasses implement ``route(request) -> Reply`` and raise :class:`Fail` for error answers; ``injectable(request)``
says which requests may fail (LINE: only the Messaging API, not its by-hand follow page), and ``injected_reply(mode)``
may add modes of their own (LINE: its monthly limit).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import threading
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger("classroom.fake")

# A held request gives up waiting after this long, so a test that forgets to release never hangs the suite.
HOLD_LIMIT_SECONDS = 10
# The failure modes every fake shares, and those chaos draws from by default.
MODES = ("500", "429", "timeout", "timeout_after_act")
CHAOS_MODES = MODES
DOWNLOAD_FAULTS = ("500", "truncated", "stall")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class Reply:
    status: int = 200
    body: dict | list | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A body cut off: the whole body's Content-Length is announced, only this many bytes are sent, then the
    # connection is closed (a download that dropped half-way).
    truncate_at: int | None = None


@dataclass
class Webhook:
    """A webhook as a service sends it: the body, and the headers that sign it (each service's ``signed_headers``)."""

    body: bytes

    content_type = "application/json"

    @property
    def event(self):
        return json.loads(self.body)

    def signed_headers(self) -> dict[str, str]:
        return {}

    def http_headers(self) -> dict[str, str]:
        """As the service sends them."""
        return {"Content-Type": self.content_type, **self.signed_headers()}

    def headers(self) -> dict:
        """As Django test client keyword arguments."""
        meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in self.signed_headers().items()}
        return {"content_type": self.content_type, **meta}


class Fail(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(status)
        self.reply = Reply(status, body, headers or {})


class FakeService:
    name = "fake"
    modes = MODES  # the modes fail_next_with accepts (a subclass may add its own, see injected_reply)
    chaos_modes = CHAOS_MODES  # what chaos() draws from unless told
    late_modes = ("timeout_after_act",)  # the modes that act, then answer too late
    webhook_path = ""  # where our app receives this service's webhooks (for --help)
    download_path = "/download/"  # where the fake serves files (the requests ``fail_downloads`` applies to)

    def __init__(self, webhook_url: str = "", *, hang_seconds: float = 1.0, retry_after: int = 30):
        self.webhook_url = webhook_url
        # "timeout" modes wait this long before answering; the client's read timeout must be shorter.
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        # The round trip of the real service: every answer waits latency_ms +- jitter_ms (uniform), outside the lock,
        # so concurrent requests overlap as they would at the service.
        self.latency_ms = 0.0
        self.jitter_ms = 0.0
        self._latency_random = random.Random(1)
        self.in_flight = self.peak_in_flight = 0  # requests being answered now, and the most at once
        self.injected: Counter = Counter()
        self._modes: list[tuple[str, str, str | None]] = []  # (mode, path part, method) of fail_next_with
        self._chaos = 0.0
        self._chaos_modes: tuple[str, ...] = self.chaos_modes
        self._chaos_random = random.Random(0)
        self._stopping = threading.Event()
        self.events: list = []  # the webhooks the service sent, in order (see send_webhook)
        self.requests: list[Request] = []
        self.served: list[Request] = []  # the requests that reached route(): the service acted on them (or refused)
        self.lock = threading.RLock()
        self._failures: list[Reply] = []
        self._held: threading.Event | None = None
        self._download_faults: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- what a subclass provides --------------------------------------------------------------------------------
    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    def failure_body(self, status: int) -> dict:
        return {"error": f"injected failure {status}"}

    def injectable(self, request: Request) -> bool:
        """Whether ``request`` may get an injected failure (all requests unless a subclass says otherwise)."""
        return True

    def injected_reply(self, mode: str) -> Reply:
        """The answer of an injected failure that is an answer (not a timeout)."""
        if mode == "429":
            return Reply(429, self.failure_body(429), {"Retry-After": str(self.retry_after)})
        return Reply(500, self.failure_body(500))

    # --- controls for tests ----------------------------------------------------------------------------------------
    def fail_next(self, n: int = 1, *, status: int = 500, body: dict | None = None, headers: dict | None = None):
        with self.lock:
            self._failures += [Reply(status, body or self.failure_body(status), headers or {}) for _ in range(n)]

    def fail_fraction(self, fraction: float, *, seed: int = 0) -> None:
        """Chaos with 500 only."""
        self.chaos(fraction, seed=seed, modes=("500",))

    def fail_next_with(self, mode: str, n: int = 1, *, path: str = "", method: str | None = None) -> None:
        """The next ``n`` requests (whose path contains ``path`` and, if given, of that ``method``) fail in ``mode``:
        e.g. ``fail_next_with("timeout_after_act", path="/meetings", method="POST")`` loses the answer of the next
        Zoom create whatever other calls come first."""
        if mode not in self.modes:
            raise ValueError(f"unknown failure mode {mode!r}; one of {self.modes}")
        with self.lock:
            self._modes += [(mode, path, method)] * n

    def chaos(self, fraction: float, *, seed: int = 0, modes: tuple[str, ...] | None = None) -> None:
        modes = tuple(modes or self.chaos_modes)
        unknown = set(modes) - set(self.modes)
        if unknown or not modes:
            raise ValueError(f"unknown failure modes {sorted(unknown)}; choose from {self.modes}")
        with self.lock:
            self._chaos, self._chaos_random, self._chaos_modes = fraction, random.Random(seed), modes

    def hold(self) -> threading.Event:
        """Requests from now on wait until the returned event is set (then ``release()`` or ``event.set()``)."""
        with self.lock:
            self._held = threading.Event()
            return self._held

    def release(self) -> None:
        with self.lock:
            held, self._held = self._held, None
        if held is not None:
            held.set()

    def fail_downloads(self, mode: str, n: int = 1) -> None:
        if mode not in DOWNLOAD_FAULTS:
            raise ValueError(f"unknown download fault {mode!r}; one of {DOWNLOAD_FAULTS}")
        if mode == "stall":  # waits outside the fake's lock (the "timeout" mode), then answers 500
            self.fail_next_with("timeout", n, path=self.download_path)
            return
        with self.lock:
            self._download_faults += [mode] * n

    def download_reply(self, content: bytes, content_type: str) -> Reply:
        """A file as the service serves it, or the download fault asked for (under the lock, from ``route``)."""
        fault = self._download_faults.pop(0) if self._download_faults else None
        if fault:
            self.injected[f"download_{fault}"] += 1
        if fault == "500":
            return Reply(500, self.failure_body(500))
        truncate_at = len(content) // 2 if fault == "truncated" else None
        return Reply(200, content, {"Content-Type": content_type}, truncate_at=truncate_at)

    def calls(self, path_part: str = "", method: str | None = None, *, served: bool = False) -> list[Request]:
        """Requests whose path contains ``path_part``; ``served``: only those that reached the service's route
        (not answered by an injected failure before it)."""
        with self.lock:
            pool = self.served if served else self.requests
            return [r for r in pool if path_part in r.path and (method is None or r.method == method)]

    # --- webhooks ----------------------------------------------------------------------------------------------------
    def send_webhook(self, webhook: Webhook) -> None:
        """Keep a signed webhook in ``events`` (tests deliver them through the Django test client) and POST it to
        ``webhook_url`` when one is set (trying the system by hand), in the background as the real services do."""
        self.events.append(webhook)
        if self.webhook_url:
            threading.Thread(target=self._post, args=(webhook.body, webhook.http_headers()), daemon=True).start()

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(self.webhook_url, data=body, headers=headers), timeout=5)
        except OSError as exc:
            logger.warning("fake webhook delivery failed", extra={"fake": self.name, "error": str(exc)})

    # --- serving ---------------------------------------------------------------------------------------------------
    def _draw_mode(self, request: Request) -> str | None:
        """The failure mode for this request, if any (under the lock)."""
        if not self.injectable(request):
            return None
        wanted = (
            n
            for n, (_, path, method) in enumerate(self._modes)
            if path in request.path and method in (None, request.method)
        )
        first = next(wanted, None)
        mode = self._modes.pop(first)[0] if first is not None else None
        if mode is None and self._chaos and self._chaos_random.random() < self._chaos:
            mode = self._chaos_random.choice(self._chaos_modes)
        if mode is not None:
            self.injected[mode] += 1
        return mode

    def _run_route(self, request: Request) -> Reply:
        try:
            with self.lock:
                self.served.append(request)
                return self.route(request)
        except Fail as exc:
            return exc.reply

    def delay(self) -> None:
        """Wait the configured round trip (stop() cuts it short)."""
        if self.latency_ms or self.jitter_ms:
            with self.lock:
                jitter = self._latency_random.uniform(-self.jitter_ms, self.jitter_ms)
            self._stopping.wait(max(0.0, self.latency_ms + jitter) / 1000)

    def dispatch(self, request: Request) -> Reply:
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            reply = self._dispatch(request)
            self.delay()
            return reply
        finally:
            with self.lock:
                self.in_flight -= 1

    def _dispatch(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            held = self._held
            injected = self._failures.pop(0) if self._failures else None
            mode = self._draw_mode(request) if injected is None else None
        if held is not None:
            held.wait(HOLD_LIMIT_SECONDS)
        if injected is not None:
            return injected
        if mode in self.late_modes:
            reply = self._run_route(request)  # done: the answer is what comes too late
            self._stopping.wait(self.hang_seconds)
            return reply
        if mode == "timeout":
            self._stopping.wait(self.hang_seconds)
            return Reply(500, self.failure_body(500))
        if mode is not None:
            return self.injected_reply(mode)
        return self._run_route(request)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeService:
        fake = self
        self._stopping.clear()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # The headers and the body go out in two writes: with Nagle on, the body waits for the client's
                # delayed ACK of the headers (40 ms on Linux), which made every answer ~45 ms late.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = fake.dispatch(request)
                payload = reply.body if isinstance(reply.body, bytes) else b""
                if reply.body is not None and not isinstance(reply.body, bytes):
                    payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    if payload and "Content-Type" not in reply.headers:
                        self.send_header("Content-Type", "application/json")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if reply.truncate_at is not None:
                        self.wfile.write(payload[: reply.truncate_at])
                        self.close_connection = True
                        return
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and hung up
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format, *args):  # quiet: tests read fake.requests instead
                logger.debug("fake request", extra={"fake": fake.name, "line": format % args})

        class Server(ThreadingHTTPServer):
            # Many clients connect at once under load (a pool of 200 connections): a short listen backlog would
            # drop their SYNs and cost each a second's retransmit.
            request_queue_size = 1024

        self._server = Server((host, port), Handler)
        self._server.daemon_threads = True
        # A short poll interval: stop() (shutdown) waits up to one interval, and tests start and stop many fakes.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"{self.name}-fake", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._stopping.set()  # hanging requests answer now, so shutdown does not wait for them
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self if self._server else self.start()

    def __exit__(self, *exc):
        self.stop()


def run_by_hand(fake: FakeService, argv=None, **extra_args) -> None:
    """``python -m integrations.<service>.fake --port N``: serve until Ctrl-C. ``--help`` shows the fake's docstring;
    ``--webhook-url`` is where it POSTs its webhooks (our ``fake.webhook_path``)."""
    parser = argparse.ArgumentParser(description=type(fake).__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook-url", default="", help=f"where to POST its webhooks (our {fake.webhook_path})")
    for name, options in extra_args.items():
        parser.add_argument(f"--{name.replace('_', '-')}", **options)
    args = parser.parse_args(argv)
    fake.webhook_url = args.webhook_url
    fake.configure(args)
    fake.start(args.host, args.port)
    print(f"{fake.name} fake listening on {fake.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
