"""Delivery through the LINE Messaging API: identical messages to one LINE channel go out by multicast (up to 500
recipients a call), a lone message by push.

Retry keys and batches (why no recipient ever gets a duplicate, and none is marked sent without being sent):

* LINE remembers an accepted ``X-Line-Retry-Key`` for 24 h and answers a repeat with 409: the message was sent.
  That is only safe if a repeat carries exactly the recipients of the first try. So before the first call a batch is
  *pinned*: every row of it gets ``line_batch_key`` = the ``retry_key`` of its lowest row, in the database, before
  the network is touched. Every later try of any of those rows resends the same set with the same key (the sweep's
  claim takes a pinned batch whole or not at all; see ``notifications.delivery.claim``), and a row is pinned once
  (re-pinned only when LINE refused its whole batch with a 400, which accepts nothing: a split, below).
* A row's own ``retry_key`` is unique, and a split's halves get fresh UUIDs, so two batches never share a key; a lone
  row is pinned too (a batch of one, sent by push with its own key), so a retried push is never merged into a later
  multicast under a reused key.
* A timeout or a 5xx is retried with the same key: if LINE had accepted the first call, the retry gets 409 and the
  rows are marked sent. Nothing is re-grouped after a pin, even if a recipient unfollowed meanwhile (LINE simply does
  not deliver to a user who blocked the account).

One bad recipient never fails the others:

* An address that is not a LINE user id (``U`` and 32 lower-case hex characters, LINE's documented format) fails its
  row for good before any batch is planned; it is never sent.
* LINE refuses a whole request with 400 when one recipient is wrong (a malformed id: "The property, 'to', ... is
  invalid"; an id it never issued, or another provider's: "Failed to send messages"), and accepts nothing under
  that key. So a multicast refused that way is *split*: its rows are re-pinned as two new batches (the halves, in
  pk order), each with a fresh key, in the database, before either is sent; then the halves are tried, splitting
  again on a 400, until the rows LINE refuses on their own (a push of one answered 400) fail for good with LINE's
  reason and every other row is sent once. A crash or a timeout after a split leaves pinned halves: they are retried
  with their own keys like any batch. The halves are tried in the same pass (a 400 is a definite, immediate answer;
  no attempt is spent), breadth first, up to SPLIT_CALLS_PER_PASS calls per pass, so a batch whose every id is
  refused (a channel moved to another provider) cannot hold the sweep up: what is left waits for the next pass.
* A 400 that names anything else (the messages) fails the batch for good at once: every half would carry the same
  messages.

Answers: 2xx and 409 -> sent; 429 (rate limit), 5xx, no answer -> retried with backoff, honouring ``Retry-After``;
400 for a recipient -> split (above); 429 "monthly limit", other 400s, 403 and other 4xx -> failed for good with
LINE's reason; 401 -> failed and the channel is flagged (``LineChannel.auth_failed_at``, shown in the admin). Tokens
and secrets never reach a log line or an error.

Concurrency (integrations.pacing; README "Delivery at scale"): a pass pins first, in the calling thread, then sends
its batches in *waves*: each LINE channel's batches in its own pool of LINE_MAX_CONCURRENCY threads (the channel's
first call alone, so a refused token costs one call), paced by the channel's token bucket per endpoint; a split's
halves make the next wave, pinned between waves. Threads only make HTTP calls and return Results; pins, splits, the
401 flag and the results are written by the calling thread, so the exactly-once rules above hold unchanged: a pinned
batch is one call with one key however many threads run, and a thread that never got an answer leaves its batch to
be retried with the same key (409 -> sent). A 429 (LINE sent nothing) pauses the channel's bucket for Retry-After and
the batch is tried again with its key in the same pass, or, for a Retry-After over MAX_PACING_WAIT, goes back to the
sweep with the channel's remaining batches.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass

import linebot
import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import F
from linebot.v3.messaging import (
    ImagemapArea,
    ImagemapBaseSize,
    ImagemapMessage,
    MulticastRequest,
    PushMessageRequest,
    TextMessage,
    URIImagemapAction,
)

from integrations.http import retry_after_seconds
from integrations.line.models import LineChannel, LineContact
from integrations.pacing import limiter_for, map_bounded
from notifications.channels import Result
from notifications.models import Notification

logger = logging.getLogger("classroom.line")

MAX_RECIPIENTS = 500  # LINE's multicast limit
USER_AGENT = f"line-bot-sdk-python/{linebot.__version__}"  # as the SDK's own calls name themselves
IMAGEMAP_SIZE = 1040
ALT_TEXT_MAX = 400
UNFOLLOWED = "the contact unfollowed the LINE account"
UNLINKED = "the LINE contact is no longer linked to the student"
USER_ID = re.compile(r"U[0-9a-f]{32}")  # LINE's documented user id format
NOT_A_USER_ID = "LINE: not a LINE user id (U and 32 lower-case hex characters); nothing was sent"
# The answers by which LINE refuses a request for one of its recipients (see the module docstring).
REFUSED_RECIPIENT = re.compile(r"^Failed to send messages$|^The property, 'to(\[\d+\])?',")
# Calls spent splitting refused multicasts in one pass of the sweep; the rest waits for the next pass.
SPLIT_CALLS_PER_PASS = 50
# Pacing (integrations.pacing): a batch waits at most this long for its channel's limiter (a longer Retry-After
# hands it back to the sweep, retried then), is tried at most this many times in a pass when LINE answers 429, and a
# channel whose calls got no answer this many times in a row is not called again in the pass.
MAX_PACING_WAIT = 5.0
RATE_LIMIT_TRIES = 4
BREAKER_NO_ANSWERS = 8


@dataclass
class Batch:
    channel: LineChannel
    key: str
    rows: list


def messages_for(row) -> list:
    """The row's text, plus for a join or feedback link an imagemap that opens it (one tap target, the whole image)."""
    text = row.payload.get("text", "")
    messages = [TextMessage(text=text)]
    url = row.payload.get("url")
    if url:
        messages.append(
            ImagemapMessage(
                base_url=f"{settings.LINE_IMAGEMAP_BASE_URL.rstrip('/')}/{row.kind}",
                alt_text=text[:ALT_TEXT_MAX],
                base_size=ImagemapBaseSize(width=IMAGEMAP_SIZE, height=IMAGEMAP_SIZE),
                actions=[
                    URIImagemapAction(
                        link_uri=url, area=ImagemapArea(x=0, y=0, width=IMAGEMAP_SIZE, height=IMAGEMAP_SIZE)
                    )
                ],
            )
        )
    return messages


def _chunks(rows: list) -> list[list]:
    """Rows in pk order, at most MAX_RECIPIENTS per chunk and each recipient at most once per chunk (a multicast
    naming someone twice would be one copy for two rows)."""
    chunks: list[tuple[list, set]] = []
    for row in sorted(rows, key=lambda r: r.pk):
        for chunk, addresses in chunks:
            if len(chunk) < MAX_RECIPIENTS and row.address not in addresses:
                chunk.append(row)
                addresses.add(row.address)
                break
        else:
            chunks.append(([row], {row.address}))
    return [chunk for chunk, _ in chunks]


def plan_batches(rows: list, channels: dict[int, LineChannel]) -> tuple[list[Batch], list]:
    """Pinned rows keep their batch; the others are grouped by (LINE channel, payload) and pinned now.
    Returns (batches, rows that could not be pinned: retried later)."""
    batches: dict[str, Batch] = {}
    fresh: dict[tuple[int, str], list] = {}
    for row in rows:
        if row.line_batch_key:
            key = str(row.line_batch_key)
            batches.setdefault(key, Batch(channels[row.line_channel_id], key, [])).rows.append(row)
        else:
            fresh.setdefault((row.line_channel_id, row.payload_hash), []).append(row)
    unpinned = []
    chunks = [(channel_id, chunk) for (channel_id, _digest), group in fresh.items() for chunk in _chunks(group)]
    # Lone rows (personal messages: each its own push) are pinned by one statement, each to its own retry key; the
    # count must match, or nothing is pinned and they are pinned one by one below.
    lone = [chunk for _, chunk in chunks if len(chunk) == 1]
    if len(lone) > 1:
        with transaction.atomic():
            pinned = Notification.objects.filter(
                pk__in=[chunk[0].pk for chunk in lone],
                state=Notification.State.PENDING,
                line_batch_key__isnull=True,
            ).update(line_batch_key=F("retry_key"))
            if pinned != len(lone):
                transaction.set_rollback(True)
        if pinned == len(lone):
            for channel_id, chunk in chunks:
                if len(chunk) == 1:
                    chunk[0].line_batch_key = chunk[0].retry_key
                    batches[str(chunk[0].retry_key)] = Batch(channels[channel_id], str(chunk[0].retry_key), chunk)
            chunks = [(channel_id, chunk) for channel_id, chunk in chunks if len(chunk) > 1]
    for channel_id, chunk in chunks:
        key = chunk[0].retry_key
        with transaction.atomic():
            pinned = Notification.objects.filter(
                pk__in=[r.pk for r in chunk], state=Notification.State.PENDING, line_batch_key__isnull=True
            ).update(line_batch_key=key)
            if pinned != len(chunk):
                # Cannot happen while the claim's lease holds; if it does, pin nothing rather than a set that
                # differs from the one we would send.
                transaction.set_rollback(True)
        if pinned != len(chunk):
            unpinned += chunk
            continue
        for row in chunk:
            row.line_batch_key = key
        batches[str(key)] = Batch(channels[channel_id], str(key), chunk)
    return list(batches.values()), unpinned


def split(batch: Batch) -> list[Batch] | None:
    """Re-pin ``batch``'s rows as two new batches (its halves in pk order), each with a fresh key, in one transaction
    (compare-and-set on the old key) and before either is sent. None if the rows are no longer all pending under that
    key (cannot happen while the claim's lease holds): then nothing is re-pinned."""
    rows = sorted(batch.rows, key=lambda r: r.pk)
    halves = [(rows[: len(rows) // 2], uuid.uuid4()), (rows[len(rows) // 2 :], uuid.uuid4())]
    with transaction.atomic():
        for half, key in halves:
            moved = Notification.objects.filter(
                pk__in=[r.pk for r in half], state=Notification.State.PENDING, line_batch_key=batch.key
            ).update(line_batch_key=key)
            if moved != len(half):
                transaction.set_rollback(True)
                return None
    for half, key in halves:
        for row in half:
            row.line_batch_key = key
    return [Batch(batch.channel, str(key), half) for half, key in halves]


@dataclass
class RecipientRefused(Result):
    """LINE's 400 for one of the request's recipients: nothing in the request was sent (a multicast is split)."""


REFUSED_TOKEN = Result(ok=False, permanent=True, error="LINE 401: the channel's access token was refused")


@dataclass
class RateLimited(Result):
    """LINE's 429 for the rate limit: nothing was sent (LINE docs, "Handle HTTP status code 429 errors")."""


@dataclass
class NoAnswer(Result):
    """A timeout, a cut connection or a 5xx: LINE may have accepted it; the retry with the same key settles it."""


class Breaker:
    """One pass's view of a channel, shared by that channel's threads: how many calls in a row got no answer, and
    whether LINE asked it to stop for longer than a pass should wait (a long Retry-After)."""

    def __init__(self, limit: int | None = None):
        self.limit = limit or BREAKER_NO_ANSWERS
        self._lock = threading.Lock()
        self._in_a_row = 0
        self.retry_after: float | None = None  # set by a 429 whose Retry-After is over MAX_PACING_WAIT

    def record(self, no_answer: bool) -> None:
        with self._lock:
            self._in_a_row = self._in_a_row + 1 if no_answer else 0

    def stop_for(self, seconds: float) -> None:
        with self._lock:
            self.retry_after = max(self.retry_after or 0.0, seconds)

    @property
    def open(self) -> bool:
        return self._in_a_row >= self.limit


_pools: dict[tuple, urllib3.PoolManager] = {}
_pools_lock = threading.Lock()


def close_api_clients() -> None:
    """Close every connection pool (tests, and a process shutting down)."""
    with _pools_lock:
        while _pools:
            _pools.popitem()[1].clear()


def connection_pool(channel: LineChannel) -> urllib3.PoolManager:
    """The process's one urllib3 pool per LINE channel to LINE_API_BASE_URL, of LINE_MAX_CONCURRENCY connections
    (as many as the channel's threads: a smaller pool would make urllib3 discard connections, a thread then paying a
    new TCP and TLS setup per call). No retries inside: the sweep retries, with backoff and the same key."""
    key = (channel.pk, settings.LINE_API_BASE_URL.rstrip("/"), settings.LINE_MAX_CONCURRENCY)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = urllib3.PoolManager(maxsize=key[2], block=False, retries=False)
        return pool


class LineAnswer(Exception):
    """An error answer from LINE: its status, headers and body (what ``failure`` reads)."""

    def __init__(self, status: int, headers, body: bytes):
        super().__init__(status)
        self.status, self.headers, self.body = status, headers, body


def _header(headers, name: str) -> str:
    if not headers:
        return ""
    value = headers.get(name) or headers.get(name.lower()) or ""
    return str(value)


def _detail(body) -> str:
    """LINE's own short message ("You have reached your monthly limit."), never the whole body."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body or "")
    except ValueError:
        return (body or "")[:200]
    return str(parsed.get("message") or "")[:300] if isinstance(parsed, dict) else ""


def _unreachable(contacts: dict, row) -> str:
    """Why a student's row must not go to its LINE contact now ("" when it may)."""
    contact = contacts.get((row.line_channel_id, row.address))
    if contact is None or contact.student_id != row.student_id:
        return UNLINKED
    return "" if contact.following else UNFOLLOWED


class LineMessagingChannel:
    """Sends a pass's batches concurrently: each LINE channel gets its own pool of ``LINE_MAX_CONCURRENCY`` threads
    (so a slow or failing channel never takes another's threads) and its own rate limiter per endpoint. Threads
    only make HTTP calls; pinning, splitting and every other database read and write happen in the calling thread,
    before and after each wave of calls (see "Concurrency" in the module docstring)."""

    def send(self, rows: list, now: dt.datetime) -> dict:
        results: dict[int, Result] = {}
        channels = LineChannel.objects.in_bulk({r.line_channel_id for r in rows if r.line_channel_id})
        # Who may still be sent to (checked before a row is pinned; a pinned batch is resent as it was): a contact
        # that unfollowed, or was unlinked or linked to someone else since the row was written, gets nothing more.
        unpinned = [r for r in rows if not r.line_batch_key]
        contacts = {
            (c.line_channel_id, c.line_user_id): c
            for c in LineContact.objects.filter(
                line_channel_id__in={r.line_channel_id for r in unpinned},
                line_user_id__in={r.address for r in unpinned},
            ).only("line_channel_id", "line_user_id", "following", "student_id")
        }
        sendable = []
        for row in rows:
            channel = channels.get(row.line_channel_id)
            if channel is None or not row.address:
                results[row.pk] = Result(ok=False, permanent=True, error="LINE: no LINE channel or user id")
            elif not row.line_batch_key and not USER_ID.fullmatch(row.address):
                results[row.pk] = Result(ok=False, permanent=True, error=NOT_A_USER_ID)
            elif not row.line_batch_key and (reason := _unreachable(contacts, row)):
                results[row.pk] = Result(ok=False, skipped=True, error=reason)
            elif not channel.enabled:
                results[row.pk] = Result(ok=False, permanent=True, error=f"LINE channel {channel.slug} is disabled")
            else:
                sendable.append(row)
        batches, unpinned = plan_batches(sendable, channels)
        for row in unpinned:
            results[row.pk] = Result(ok=False, error="LINE: batch taken by another worker")
        refused: set[int] = set()  # channels that answered 401 in this pass: their other batches are not tried
        # Waves: every planned batch is sent in the first; the halves of the multicasts LINE refused (a split, in
        # the database, between waves) in the next, so a pass sends the large clean halves first.
        queue = [(batch, "") for batch in batches]
        split_calls = 0
        while queue:
            wave, later = [], []
            for batch, split_from in queue:
                if batch.channel.pk in refused:
                    result = REFUSED_TOKEN
                elif split_from and split_calls >= SPLIT_CALLS_PER_PASS:
                    result = Result(ok=False, error=f"{split_from} (split; this part is sent on a later pass)")
                else:
                    split_calls += bool(split_from)
                    wave.append(batch)
                    continue
                for row in batch.rows:
                    results[row.pk] = result
            for batch, result in zip(wave, self.call_all(wave, now), strict=True):
                if result.error.startswith("LINE 401"):
                    if batch.channel.pk not in refused:
                        self.token_refused(batch.channel, now)
                    refused.add(batch.channel.pk)
                elif isinstance(result, RecipientRefused) and len(batch.rows) > 1:
                    halves = split(batch)
                    if halves is not None:
                        logger.info(
                            "line batch split",
                            extra={"batch": batch.key, "halves": [h.key for h in halves], "error": result.error},
                        )
                        later.extend((half, result.error) for half in halves)
                        continue
                    result = Result(ok=False, error=f"{result.error} (not split: the batch changed; retried)")
                for row in batch.rows:
                    results[row.pk] = result  # one object per call: the sweep gives the batch one retry time
            queue = later
        return results

    def call_all(self, batches: list[Batch], now: dt.datetime) -> list[Result]:
        """Each batch's Result, in order: the channels side by side, each channel's batches in its own bounded
        pool. A call that raised (a bug) becomes a retryable Result for its batch; the retry uses the same key."""
        by_channel: dict[int, list[int]] = {}
        for index, batch in enumerate(batches):
            by_channel.setdefault(batch.channel.pk, []).append(index)
        workers = settings.LINE_MAX_CONCURRENCY

        def channel_calls(indexes: list[int]) -> list[Result]:
            # The first call goes alone: a refused token (401) then costs one call, not one per batch.
            breaker = Breaker()
            first = self.paced_call(batches[indexes[0]], now, breaker)
            if first.error.startswith("LINE 401"):
                return [first] + [REFUSED_TOKEN] * (len(indexes) - 1)
            rest = map_bounded(lambda i: self.paced_call(batches[i], now, breaker), indexes[1:], max_workers=workers)
            return [first, *rest]

        groups = list(by_channel.values())
        results: list[Result | None] = [None] * len(batches)
        for indexes, outcome in zip(groups, map_bounded(channel_calls, groups, max_workers=len(groups)), strict=True):
            answers = outcome if isinstance(outcome, list) else [outcome] * len(indexes)
            for index, answer in zip(indexes, answers, strict=True):
                if isinstance(answer, Exception):
                    logger.error("line call raised", extra={"batch": batches[index].key, "error": repr(answer)})
                    answer = Result(ok=False, error=f"LINE: the call raised {type(answer).__name__}")
                results[index] = answer
        return results

    def paced_call(self, batch: Batch, now: dt.datetime, breaker: Breaker | None = None) -> Result:
        """One batch's call within its channel's rate, in a worker thread (no database).

        A 429 of the rate limit (LINE sent nothing, so a retry with the same key is safe) backs the channel off:
        with a short Retry-After (at most MAX_PACING_WAIT; 1 s when none is given) the channel's limiter is paused
        that long, for every thread of the process, and the batch is tried again, up to RATE_LIMIT_TRIES times;
        with a longer one the batch and the channel's remaining batches of this pass go back to the sweep, which
        retries them no sooner than Retry-After. After BREAKER_NO_ANSWERS calls in a row got no answer, the
        channel's remaining batches in this pass are not tried (a channel that is down costs a few timeouts, not
        one per batch). Other channels have their own limiter and breaker: they are not held up."""
        endpoint = "push" if len(batch.rows) == 1 else "multicast"
        rate = settings.LINE_PUSH_RATE_PER_SECOND if endpoint == "push" else settings.LINE_MULTICAST_RATE_PER_SECOND
        limiter = limiter_for(f"line:{batch.channel.pk}:{endpoint}", rate)
        breaker = breaker or Breaker()
        result = Result(ok=False, error="LINE: not tried")
        for _ in range(RATE_LIMIT_TRIES):
            if breaker.retry_after is not None:
                return Result(
                    ok=False, error=f"LINE {endpoint}: rate limited (429), not tried", retry_after=breaker.retry_after
                )
            if breaker.open:
                return Result(ok=False, error=f"LINE {endpoint}: not tried, the channel is not answering")
            if not limiter.acquire(timeout=MAX_PACING_WAIT):
                wait = max(limiter.paused_for(), 1.0)
                return Result(ok=False, error=f"LINE {endpoint}: rate limited, waiting {wait:.0f} s", retry_after=wait)
            result = self.call(batch, now)
            breaker.record(isinstance(result, NoAnswer))
            if not isinstance(result, RateLimited):
                return result
            wait = 1.0 if result.retry_after is None else result.retry_after
            if wait > MAX_PACING_WAIT:
                breaker.stop_for(wait)
                return result
            limiter.pause(wait)
        return result

    def call(self, batch: Batch, now: dt.datetime) -> Result:
        """One push (a batch of one) or multicast, with the batch's key, in a worker thread (no database).

        The body is the SDK's own request model (``PushMessageRequest`` / ``MulticastRequest``, validated as the SDK
        validates it) sent on the shared urllib3 pool with both timeouts. Not through the SDK's ``MessagingApi``:
        its per-call layers (argument validation, response models) cost twice the CPU of the call itself (2.3 ms
        against 1.1 ms a call with 200 threads, README "Delivery at scale"), and a delivery worker is bound by its
        one interpreter's CPU long before LINE's rate limit."""
        channel, rows = batch.channel, batch.rows
        endpoint = "push" if len(rows) == 1 else "multicast"
        messages = messages_for(rows[0])
        if endpoint == "push":
            request = PushMessageRequest(to=rows[0].address, messages=messages)
        else:
            request = MulticastRequest(to=[r.address for r in rows], messages=messages)
        log = {"line_channel": channel.slug, "endpoint": endpoint, "recipients": len(rows), "batch": batch.key}
        headers = {
            "Authorization": f"Bearer {channel.access_token}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Line-Retry-Key": batch.key,
        }
        timeout = urllib3.Timeout(
            connect=settings.LINE_CONNECT_TIMEOUT_MS / 1000, read=settings.LINE_READ_TIMEOUT_MS / 1000
        )
        url = f"{settings.LINE_API_BASE_URL.rstrip('/')}/v2/bot/message/{endpoint}"
        try:
            response = connection_pool(channel).request(
                "POST", url, body=request.to_json().encode(), headers=headers, timeout=timeout
            )
            if response.status >= 300:
                raise LineAnswer(response.status, response.headers, response.data)
        except LineAnswer as exc:
            result = self.failure(channel, exc, endpoint, now)
            logger.log(
                logging.INFO if result.ok else logging.WARNING,
                "line answered",
                extra={**log, "status": exc.status, "error": result.error},
            )
            return result
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # No answer: LINE may or may not have accepted it; the retry with the same key settles which (409).
            logger.warning("line no answer", extra={**log, "error": type(exc).__name__})
            return NoAnswer(ok=False, error=f"LINE {endpoint}: no answer ({type(exc).__name__})")
        request_id = _header(response.headers, "x-line-request-id")
        logger.info("line sent", extra={**log, "status": response.status, "request_id": request_id})
        return Result(ok=True, provider_message_id=request_id)

    def failure(self, channel: LineChannel, exc: LineAnswer, endpoint: str, now: dt.datetime) -> Result:
        """What LINE's error answer means for the batch (no database: this runs in a worker thread)."""
        status = exc.status or 0
        detail = _detail(exc.body)
        error = f"LINE {status} on {endpoint}" + (f": {detail}" if detail else "")
        if status == 409:
            accepted = _header(exc.headers, "x-line-accepted-request-id")
            return Result(ok=True, provider_message_id=accepted or _header(exc.headers, "x-line-request-id"))
        if status == 429 and "monthly limit" in detail.lower():
            return Result(ok=False, permanent=True, error=error)
        if status == 429:
            return RateLimited(
                ok=False, error=error, retry_after=retry_after_seconds(_header(exc.headers, "Retry-After"))
            )
        if status >= 500 or status == 0:
            retry_after = retry_after_seconds(_header(exc.headers, "Retry-After"))
            return NoAnswer(ok=False, error=error, retry_after=retry_after)
        if status == 400 and REFUSED_RECIPIENT.search(detail):
            return RecipientRefused(ok=False, permanent=True, error=error)
        return Result(ok=False, permanent=True, error=error)

    def token_refused(self, channel: LineChannel, now: dt.datetime) -> None:
        """A 401: the channel is marked (staff see it in the admin), once."""
        LineChannel.objects.filter(pk=channel.pk, auth_failed_at__isnull=True).update(auth_failed_at=now)
        logger.error("line channel refused its token", extra={"line_channel": channel.slug})
