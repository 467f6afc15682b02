"""The recording sweeps (settings.SWEEPS, the maintenance pass): each ``sweep(now) -> counts``, idempotent, safe
with any number of workers.

* ``expect_recordings``: a recorded course's class that closed gets its recording row: ``expected`` from a provider
  that records, ``none`` ("recording not supported") from one that cannot.
* ``poll_recordings``: the backup for a lost or late webhook. An expected recording with no file
  RECORDING_POLL_AFTER_MINUTES (3 h) after the close, and a file whose download token expired, are asked of the
  provider (Zoom: ``GET /meetings/{uuid}/recordings``); nothing after RECORDING_GIVE_UP_HOURS: failed.
* ``download_recordings``: each processing file is leased to one worker (``SELECT ... FOR NO KEY UPDATE SKIP
  LOCKED``, then ``lease_until``, in a short transaction), streamed into a temporary file outside any transaction
  (bounded: read timeout, total time, RECORDING_MAX_BYTES), verified (size as the provider announced it, checksum if
  it gave one), saved in the recordings storage and verified there, then made ready by compare-and-set; a second
  worker that somehow copied it too deletes its own copy. The provider's copy is deleted afterwards if
  RECORDING_DELETE_FROM_PROVIDER says so.
* ``expire_recordings``: retention is over: the stored file and the provider's copy are deleted, the row kept
  (``deleted``). A second run finds nothing.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import tempfile
from collections import Counter
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q

from core.sweeping import claim_batches
from integrations.http import ProviderError
from integrations.video import get_provider
from meetings import recordings
from meetings.models import Meeting, Recording

logger = logging.getLogger("classroom.recordings")
State = Recording.State
LEASE = dt.timedelta(minutes=45)  # longer than a download may take (RECORDING_DOWNLOAD_TIMEOUT_SECONDS)
BATCH = 10


def _lease(queryset, now: dt.datetime, *, lease: dt.timedelta = LEASE):
    """Yield due recordings a few at a time, each leased to this worker in its own short transaction (SKIP LOCKED:
    concurrent workers split the due rows), so the outside calls run outside any transaction."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    leased: set[int] = set()
    while True:
        with transaction.atomic():
            batch = list(
                queryset.filter(free)
                .exclude(pk__in=leased)
                .select_related("meeting")
                .select_for_update(skip_locked=True, of=("self",), no_key=True)[:BATCH]
            )
            if not batch:
                return
            ids = [r.pk for r in batch]
            Recording.objects.filter(pk__in=ids).update(lease_until=now + lease)
        leased.update(ids)
        yield batch


def expect_recordings(now: dt.datetime) -> Counter:
    if not settings.RECORDINGS_ENABLED:
        return Counter()
    since = now - dt.timedelta(hours=settings.RECORDING_GIVE_UP_HOURS)

    def due():
        return (
            Meeting.objects.filter(
                state=Meeting.State.CLOSED,
                course__record_classes=True,
                closed_at__gte=since,
                room_provisioned_at__isnull=False,
                recordings__isnull=True,
            )
            .exclude(room_provider="")
            .order_by("closed_at")
        )

    def apply(batch):
        counts = Counter()
        for meeting in batch:
            made = recordings.expect(meeting, provider=get_provider(meeting.room_provider), now=now)
            counts["none" if made is not None and made.state == State.NONE else "expected" if made else "known"] += 1
        return counts

    def on_failure(meeting, exc):
        logger.warning("expecting a recording failed", extra={"meeting_id": meeting.pk, "error": str(exc)})

    return claim_batches("expect_recordings", due, apply, on_failure=on_failure)


def poll_recordings(now: dt.datetime) -> Counter:
    if not settings.RECORDINGS_ENABLED:
        return Counter()
    counts: Counter = Counter()
    due = Recording.objects.filter(
        Q(state=State.EXPECTED) | Q(state=State.PROCESSING, needs_poll=True), next_attempt_at__lte=now
    ).order_by("pk")
    polled: set[int] = set()
    for batch in _lease(due, now, lease=dt.timedelta(minutes=5)):
        for recording in batch:
            meeting = recording.meeting
            if meeting.pk not in polled:
                polled.add(meeting.pk)
                provider = get_provider(recording.provider)
                try:
                    files = provider.recording_files(meeting)
                except ProviderError as exc:
                    logger.warning("recording poll failed", extra={"meeting_id": meeting.pk, "error": str(exc)})
                    counts["failed"] += 1
                    files = None
                if files:
                    counts.update(
                        recordings.files_known(meeting, files, provider=provider.name, now=now, source="poll")
                    )
            recording.refresh_from_db()
            Recording.objects.filter(pk=recording.pk).update(lease_until=None)
            if recording.state == State.PROCESSING and recording.needs_poll:
                # The provider gave no new link for a file whose token it refused: a failed try, backed off, and
                # failed for good after RECORDING_MAX_ATTEMPTS like any other.
                counts[recordings.download_failed(recording, "no fresh download link from the provider", now=now)] += 1
            elif recording.state == State.EXPECTED:
                closed = meeting.closed_at or recording.created_at
                if closed + dt.timedelta(hours=settings.RECORDING_GIVE_UP_HOURS) <= now:
                    counts["given up"] += recordings.nothing_arrived(recording, now=now)
                else:
                    recordings.poll_later(recording, now=now)
                    counts["nothing yet"] += 1
    return counts


def recordings_storage():
    """The storage the recordings' file field writes to (``STORAGES["recordings"]``, read once when the model
    loads): the copies are saved, sized and deleted where the field reads them."""
    return Recording._meta.get_field("file").storage


def stored_name(recording: Recording) -> str:
    suffix = {"MP4": ".mp4", "M4A": ".m4a", "CHAT": ".txt"}.get(recording.file_type.upper(), ".bin")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in recording.file_id)[:80]
    return str(PurePosixPath(str(recording.meeting_id)) / f"{recording.pk}-{safe}{suffix}")


class BadCopy(Exception):
    """The copy is not the file the provider announced (size, checksum)."""


def download_one(recording: Recording, *, now: dt.datetime) -> str:
    """Copy one leased file into the storage and make it ready; what happened, for the counts."""
    provider = get_provider(recording.provider)
    storage = recordings_storage()
    try:
        with tempfile.TemporaryFile() as sink:
            got = provider.download_recording(recording, sink, max_bytes=settings.RECORDING_MAX_BYTES)
            if recording.size_bytes is not None and got.size != recording.size_bytes:
                raise BadCopy(f"got {got.size} bytes, the provider announced {recording.size_bytes}")
            if recording.provider_checksum and not hmac.compare_digest(recording.provider_checksum, got.sha256):
                raise BadCopy("the checksum does not match the provider's")
            sink.seek(0)
            name = storage.save(stored_name(recording), File(sink))
    except ProviderError as exc:
        if exc.status in (401, 403):
            return recordings.token_expired(recording, exc, now=now)
        return recordings.download_failed(recording, exc, now=now)
    except BadCopy as exc:
        return recordings.download_failed(recording, exc, now=now)
    if storage.size(name) != got.size:
        storage.delete(name)
        return recordings.download_failed(recording, BadCopy("the stored copy has the wrong size"), now=now)
    if not recordings.stored(recording, name=name, size=got.size, sha256=got.sha256, now=now):
        storage.delete(name)  # another worker's copy won: ours is not kept
        return "already stored"
    if settings.RECORDING_DELETE_FROM_PROVIDER:
        delete_at_provider(recording, provider, now=now)
    return "ready"


def delete_at_provider(recording: Recording, provider, *, now: dt.datetime) -> bool:
    """The provider's copy, deleted once ours is verified (or at retention); a failure is logged and tried again by
    the retention sweep."""
    try:
        provider.delete_recording(recording)
    except ProviderError as exc:
        logger.warning(
            "deleting the provider's recording failed", extra={"recording_id": recording.pk, "error": str(exc)}
        )
        return False
    Recording.objects.filter(pk=recording.pk).update(provider_deleted_at=now)
    return True


def download_recordings(now: dt.datetime) -> Counter:
    if not settings.RECORDINGS_ENABLED:
        return Counter()
    due = Recording.objects.filter(state=State.PROCESSING, needs_poll=False, next_attempt_at__lte=now).order_by(
        "next_attempt_at", "pk"
    )
    counts: Counter = Counter()
    for batch in _lease(due, now):
        for recording in batch:
            try:
                counts[download_one(recording, now=now)] += 1
            except Exception as exc:  # a storage or database failure: this file waits, the others go on
                logger.exception("recording download crashed", extra={"recording_id": recording.pk})
                counts[recordings.download_failed(recording, exc, now=now)] += 1
    return counts


def expire_recordings(now: dt.datetime) -> Counter:
    """Ready recordings past their retention: their stored file and the provider's copy deleted, the row kept as
    ``deleted``. Runs whether or not RECORDINGS_ENABLED is on now (switching recording off keeps no file longer)."""
    due = Recording.objects.filter(state=State.READY, retention_until__lte=now).order_by("retention_until", "pk")
    storage = recordings_storage()
    counts: Counter = Counter()
    for batch in _lease(due, now, lease=dt.timedelta(minutes=5)):
        for recording in batch:
            # The provider's copy first: if it cannot be deleted now, ours stays playable and both are tried again
            # once the lease runs out.
            if recording.provider_deleted_at is None and not delete_at_provider(
                recording, get_provider(recording.provider), now=now
            ):
                counts["provider failed"] += 1
                continue
            if recording.file.name:
                storage.delete(recording.file.name)  # deleting a missing file is not an error
            counts["deleted"] += recordings.deleted(recording, now=now, provider_deleted=True)
    return counts
