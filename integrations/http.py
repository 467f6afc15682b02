"""The one HTTP helper under every ``requests``-based client (LiveKit, Zoom).

It always sets a timeout (``HTTP_TIMEOUT_SECONDS``), retries a bounded number of times (``HTTP_RETRIES``) with
exponential backoff and jitter on the failures that trying again can cure (5xx, 408, 425, 429, timeouts, refused or
dropped connections), honours a short ``Retry-After``, and turns every failure into
:class:`ProviderError` carrying the HTTP status and whether the failure is permanent.

Two rules keep retries from doing harm:

* A request that is not idempotent (Zoom "create meeting") is resent only when it certainly never reached the
  service (connect timeout, connection refused). It is not resent after a read timeout or a dropped connection, nor
  after any error answer: a 500 may come after the service acted (Zoom can create the meeting and still answer 500),
  so resending could create a second meeting. The error goes to the caller, who knows how to find out what happened
  (the Zoom provider lists the host's meetings on its next attempt) or, for a 429 that refused the request, to
  send it elsewhere (the Zoom pool sets the rate-limited host aside).
* A ``Retry-After`` longer than ``HTTP_RETRY_AFTER_MAX_SECONDS`` is not slept through (a sweep holds a lease): the
  error is raised with ``retry_after`` set, and the caller records when to try again.

Nothing here logs headers or bodies: they carry tokens and secrets.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings

from core.backoff import backoff

logger = logging.getLogger("classroom.http")


class ProviderError(Exception):
    """A call to a video service failed. ``permanent``: trying the same call again cannot help (a 4xx other than
    408/425/429, bad credentials); otherwise the caller retries later. ``status`` is the HTTP status (None when no
    answer came: timeout, connection refused); ``detail`` the service's own short message; ``retry_after`` the wait
    in seconds the service asked for (429/503 ``Retry-After``), if any."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


# Answers after which the same request may succeed later. Every other 4xx is permanent: resending it cannot help.
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def is_transient(status: int) -> bool:
    return status >= 500 or status in TRANSIENT_STATUSES


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` is either seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the service (safe to resend even if not idempotent)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _detail(response: requests.Response) -> str:
    """The service's own short error message (Zoom ``message``, Twirp ``msg``), never the whole body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("msg") or body.get("error_description") or body.get("error") or "")[
            :300
        ]
    return ""


@dataclass(frozen=True)
class Downloaded:
    """What a streamed download wrote: its size in bytes and its SHA-256 (hex)."""

    size: int
    sha256: str


class HttpClient:
    """A ``requests.Session`` for one service. ``request()`` returns a 2xx/3xx response or raises ProviderError."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        max_backoff_seconds: float = 8.0,
        max_retry_after_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout if timeout is not None else settings.HTTP_TIMEOUT_SECONDS
        self.retries = retries if retries is not None else settings.HTTP_RETRIES
        self.backoff_seconds = backoff_seconds if backoff_seconds is not None else settings.HTTP_RETRY_BACKOFF_MS / 1000
        self.max_backoff_seconds = max_backoff_seconds
        self.max_retry_after_seconds = (
            max_retry_after_seconds if max_retry_after_seconds is not None else settings.HTTP_RETRY_AFTER_MAX_SECONDS
        )
        self.sleep = sleep
        self.session = session or requests.Session()

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` + 1 (``core.backoff``, with jitter: clients that failed together
        spread out)."""
        return backoff(attempt, base=self.backoff_seconds, cap=self.max_backoff_seconds)

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        give_up: Callable[[requests.Response], bool] | None = None,
        **kwargs,
    ) -> requests.Response:
        """Send ``method path`` (a path under ``base_url`` or a full URL). ``give_up(response)`` may declare an
        error answer final although its status is transient (Zoom's daily limit: a 429 that no retry today cures).
        """
        url = path if "://" in path else self.base_url + path
        label = f"{self.service} {method} {urlsplit(url).path}"
        kwargs.pop("timeout", None)  # the timeout is the helper's to set, always
        attempts = self.retries + 1
        for attempt in range(attempts):
            started = time.monotonic()
            final = attempt == attempts - 1
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
                error = ProviderError(f"{label}: {kind} ({type(exc).__name__})", permanent=False)
                if final or not (idempotent or _never_sent(exc)):
                    raise error from exc
                self._wait(label, attempt, error, self.backoff(attempt))
                continue
            elapsed_ms = round((time.monotonic() - started) * 1000)
            logger.debug(
                "http",
                extra={"service": self.service, "call": label, "status": response.status_code, "ms": elapsed_ms},
            )
            if response.status_code < 400:
                return response
            error = self._error(label, response)
            if error.permanent or final or not idempotent or (give_up is not None and give_up(response)):
                raise error
            wait = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            if wait > self.max_retry_after_seconds:
                raise error  # the caller records when to come back; a sweep must not sleep through its lease
            self._wait(label, attempt, error, wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def download(
        self,
        path: str,
        sink,
        *,
        max_bytes: int,
        deadline_seconds: float,
        chunk_bytes: int = 1024 * 1024,
        **kwargs,
    ) -> Downloaded:
        """Stream ``GET path`` into ``sink`` (a binary file), bounded three ways: every read waits at most the
        timeout, the whole transfer at most ``deadline_seconds``, and at most ``max_bytes`` are accepted (a larger
        ``Content-Length`` is refused before reading). A body shorter than its ``Content-Length`` (the connection
        dropped) is an error, never a short file. Errors are ProviderError (not permanent: the caller retries on
        its own schedule); the answer's status and retries follow ``request``."""
        started = time.monotonic()
        response = self.request("GET", path, stream=True, **kwargs)
        label = f"{self.service} download {urlsplit(response.url or path).path}"
        try:
            declared = response.headers.get("Content-Length")
            declared = int(declared) if declared and declared.isdigit() else None
            if declared is not None and declared > max_bytes:
                raise ProviderError(f"{label}: {declared} bytes is over the {max_bytes} byte cap")
            digest, size = hashlib.sha256(), 0
            try:
                for chunk in response.iter_content(chunk_bytes):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ProviderError(f"{label}: over the {max_bytes} byte cap")
                    if time.monotonic() - started > deadline_seconds:
                        raise ProviderError(f"{label}: took longer than {deadline_seconds:g} s")
                    digest.update(chunk)
                    sink.write(chunk)
            except requests.RequestException as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "was cut off"
                raise ProviderError(f"{label}: {kind} after {size} bytes ({type(exc).__name__})") from exc
            if declared is not None and size != declared:
                raise ProviderError(f"{label}: truncated, {size} of {declared} bytes")
            return Downloaded(size=size, sha256=digest.hexdigest())
        finally:
            response.close()

    def _error(self, label: str, response: requests.Response) -> ProviderError:
        status = response.status_code
        detail = _detail(response)
        return ProviderError(
            f"{label} answered {status}" + (f": {detail}" if detail else ""),
            permanent=not is_transient(status),
            status=status,
            detail=detail,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )

    def _wait(self, label: str, attempt: int, error: ProviderError, seconds: float) -> None:
        logger.warning(
            "http retry",
            extra={
                "service": self.service,
                "call": label,
                "attempt": attempt + 1,
                "status": error.status,
                "error": str(error),
                "retry_in_seconds": round(seconds, 3),
            },
        )
        self.sleep(seconds)
