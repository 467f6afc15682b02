"""Recordings of classes: the one transitions module of ``meetings.Recording`` (DESIGN.md "State machines"), who may
play one, and the signed play links.

    expected -> processing -> ready | failed        none (the provider cannot record)        ready -> deleted

* ``expect`` writes the row that says a class's recording is expected (or ``none``, with the reason) once it closed.
* ``files_known`` records what the provider says it has (a webhook, or a poll): each file once per meeting, keyed by
  the provider's instance id and file id (``recording_file_once``). The first file takes over the expected row; a
  file already known only gets the newer download link and token (Zoom's duplicate webhooks differ only in those),
  so a duplicate or late webhook never makes a second row, nor a second copy.
* ``stored`` (processing -> ready) keeps the verified copy, sets the retention deadline and tells the booked
  students, once per class (the outbox key); ``download_failed`` backs off and, after RECORDING_MAX_ATTEMPTS,
  fails with the reason; ``token_expired`` sends the file to the poll path; ``deleted`` (ready -> deleted) after
  retention.

Every change is a compare-and-set on the state with its history row (``core.audit``) in the same transaction; the
provider and the storage are called by the sweeps (``meetings.recording_sweeps``) outside any transaction.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_noop

from bookings.models import Booking
from core import audit
from core.backoff import backoff
from core.i18n import Reason
from core.statemachine import transition
from integrations.video import RecordingFile
from meetings.models import Meeting, Recording
from notifications import outbox

logger = logging.getLogger("classroom.recordings")
State = Recording.State

NOT_SUPPORTED = gettext_noop("recording not supported")
NO_RECORDING = gettext_noop("no recording arrived")
# Booked students may play the class's recording: their seat was confirmed (and may since have been completed).
BOOKED = (Booking.Status.CONFIRMED, Booking.Status.COMPLETED)
PLAY_SALT = "meetings.recording.play"
RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 3600


def is_recorded(meeting: Meeting) -> bool:
    """Whether the class is to be recorded: recordings are on and its course says so."""
    return settings.RECORDINGS_ENABLED and meeting.course.record_classes


def _change(recording: Recording, *, to: str, allowed_from, now: dt.datetime, reason="", updates=None, then=None):
    return transition(
        recording,
        to=to,
        allowed_from=allowed_from,
        now=now,
        reason=str(reason),
        updates=updates,
        meeting_id=recording.meeting_id,
        in_transaction=then,
    )


def expect(meeting: Meeting, *, provider, now: dt.datetime) -> Recording | None:
    """The class closed: its recording is expected from ``provider``, or ``none`` when it cannot record. None when
    the meeting already has a recording row (another worker, or the webhook, came first)."""
    state = State.EXPECTED if provider.records else State.NONE
    with transaction.atomic():
        try:
            with transaction.atomic():
                recording = Recording.objects.create(
                    meeting=meeting,
                    provider=provider.name,
                    state=state,
                    last_error="" if provider.records else NOT_SUPPORTED,
                    # The first poll, if no webhook came by then.
                    next_attempt_at=(meeting.closed_at or now)
                    + dt.timedelta(minutes=settings.RECORDING_POLL_AFTER_MINUTES),
                    created_at=now,
                )
        except IntegrityError:
            return None
        audit.record(
            Recording,
            [(recording.pk, "", meeting.pk)],
            to_state=state,
            at=now,
            reason="" if provider.records else NOT_SUPPORTED,
        )
    return recording


def files_known(meeting: Meeting, files: list[RecordingFile], *, provider: str, now: dt.datetime, source: str):
    """What the provider says it has, recorded once per file (see the module's docstring). Returns counts: "new",
    "refreshed" (a newer link for a file not yet copied), "known" (nothing to change)."""
    counts = {"new": 0, "refreshed": 0, "known": 0}
    for file in files:
        with transaction.atomic():
            existing = (
                Recording.objects.select_for_update(no_key=True)
                .filter(meeting=meeting, external_id=file.external_id, file_id=file.file_id)
                .first()
            )
            if existing is not None:
                counts[_refresh(existing, file, now=now)] += 1
                continue
            expected = (
                Recording.objects.select_for_update(no_key=True)
                .filter(meeting=meeting, state=State.EXPECTED)
                .order_by("pk")
                .first()
            )
            fields = _file_fields(file, now=now)
            if expected is not None:
                _change(
                    expected,
                    to=State.PROCESSING,
                    allowed_from=[State.EXPECTED],
                    now=now,
                    reason=f"the provider has the file ({source})",
                    updates=fields,
                )
            else:
                try:
                    with transaction.atomic():
                        created = Recording.objects.create(
                            meeting=meeting, provider=provider, state=State.PROCESSING, created_at=now, **fields
                        )
                except IntegrityError:  # another delivery of the same file, committed meanwhile
                    counts["known"] += 1
                    continue
                audit.record(
                    Recording,
                    [(created.pk, "", meeting.pk)],
                    to_state=State.PROCESSING,
                    at=now,
                    reason=f"the provider has the file ({source})",
                )
            counts["new"] += 1
    return counts


def _file_fields(file: RecordingFile, *, now: dt.datetime) -> dict:
    return {
        "external_id": file.external_id,
        "file_id": file.file_id,
        "kind": file.kind,
        "file_type": file.file_type,
        "size_bytes": file.size_bytes,
        "duration_seconds": file.duration_seconds,
        "provider_checksum": file.checksum,
        "download_url": file.download_url,
        "download_token": file.download_token,
        "token_sent_at": file.sent_at or now,
        "next_attempt_at": now,
        "needs_poll": False,
        "last_error": "",
    }


def _refresh(recording: Recording, file: RecordingFile, *, now: dt.datetime) -> str:
    """A file we know: keep the newest download link and token while it is still to be copied (the row is locked)."""
    sent_at = file.sent_at or now
    if recording.state != State.PROCESSING or (recording.token_sent_at and sent_at <= recording.token_sent_at):
        return "known"
    if (file.download_url, file.download_token) == (recording.download_url, recording.download_token):
        return "known"
    Recording.objects.filter(pk=recording.pk, state=State.PROCESSING).update(
        download_url=file.download_url,
        download_token=file.download_token,
        token_sent_at=sent_at,
        needs_poll=False,
        # A file waiting for a poll (its token had expired) may be fetched at once with the new one.
        next_attempt_at=now if recording.needs_poll else recording.next_attempt_at,
    )
    return "refreshed"


def stored(recording: Recording, *, name: str, size: int, sha256: str, now: dt.datetime) -> bool:
    """processing -> ready: the copy ``name`` in the recordings storage is verified. Tells the booked students (once
    per class). False when another worker stored it first (the caller deletes its own copy)."""
    retention = now + dt.timedelta(days=settings.RECORDING_RETENTION_DAYS)

    def tell_students(_from_state):
        outbox.enqueue(ready_messages(recording.meeting, now=now))

    with transaction.atomic():
        claimed = Recording.objects.filter(pk=recording.pk, state=State.PROCESSING, file="").update(file=name)
        if not claimed:
            return False
        _change(
            recording,
            to=State.READY,
            allowed_from=[State.PROCESSING],
            now=now,
            reason=f"stored, {size} bytes, sha256 {sha256[:12]}…",
            updates={
                "size_bytes": size,
                "sha256": sha256,
                "ready_at": now,
                "retention_until": retention,
                "lease_until": None,
                "last_error": "",
                # The token is of no more use; it is a secret, so it is not kept.
                "download_token": "",
            },
            then=tell_students,
        )
    recording.file.name = name
    return True


def ready_messages(meeting: Meeting, *, now: dt.datetime) -> list:
    """The "recording ready" message to each booked student of the class, with the link to its recordings."""
    url = settings.PUBLIC_BASE_URL + reverse("recording-page", args=[meeting.pk])
    booked = Booking.objects.filter(meeting=meeting, status__in=BOOKED)
    rows = []
    for student in outbox.contacts_by_meeting(booked).get(meeting.pk, []):
        rows += outbox.to_student("recording_ready", student, now=now, meeting=meeting, url=url)
    return rows


def download_failed(recording: Recording, error, *, now: dt.datetime) -> str:
    """A copy that failed (cut off, over the cap, a 5xx, a timeout, a bad copy): tried again after 60 s, doubling, at
    most an hour; after RECORDING_MAX_ATTEMPTS failed for good with the reason. Returns "retry" or "failed"."""
    attempts = recording.attempts + 1
    message = str(error)[:2000]
    if attempts >= settings.RECORDING_MAX_ATTEMPTS:
        _change(
            recording,
            to=State.FAILED,
            allowed_from=[State.PROCESSING],
            now=now,
            reason=f"download failed {attempts} times: {message}"[:500],
            updates={"attempts": attempts, "last_error": message, "lease_until": None, "download_token": ""},
        )
        return "failed"
    wait = backoff(attempts - 1, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS, jitter=False)
    Recording.objects.filter(pk=recording.pk, state=State.PROCESSING).update(
        attempts=attempts, last_error=message, next_attempt_at=now + dt.timedelta(seconds=wait), lease_until=None
    )
    logger.warning("recording download failed", extra={"recording_id": recording.pk, "error": message})
    return "retry"


def token_expired(recording: Recording, error, *, now: dt.datetime) -> str:
    """The provider refused the download token (Zoom's expires 24 h after the recording completed): the next poll
    fetches a fresh link (``files_known`` clears ``needs_poll``)."""
    Recording.objects.filter(pk=recording.pk, state=State.PROCESSING).update(
        needs_poll=True, download_token="", last_error=str(error)[:2000], lease_until=None, next_attempt_at=now
    )
    return "token expired"


def provider_failed(meeting: Meeting, *, provider, reason: str, now: dt.datetime) -> bool:
    """The provider says the recording failed (LiveKit's Egress ended with an error): the expected row (made now if
    the close has not made it yet) -> failed with the provider's reason."""
    expect(meeting, provider=provider, now=now)
    recording = meeting.recordings.filter(state=State.EXPECTED).order_by("pk").first()
    if recording is None:
        return False
    return _change(
        recording,
        to=State.FAILED,
        allowed_from=[State.EXPECTED],
        now=now,
        reason=f"the provider failed: {reason}"[:500],
    ).changed


def nothing_arrived(recording: Recording, *, now: dt.datetime) -> bool:
    """expected -> failed: no file came, by webhook or poll, in RECORDING_GIVE_UP_HOURS."""
    return _change(recording, to=State.FAILED, allowed_from=[State.EXPECTED], now=now, reason=NO_RECORDING).changed


def poll_later(recording: Recording, *, now: dt.datetime) -> None:
    attempts = recording.attempts + 1
    wait = backoff(attempts - 1, base=15 * 60, cap=6 * 3600, jitter=False)
    Recording.objects.filter(pk=recording.pk, state=State.EXPECTED).update(
        attempts=attempts, next_attempt_at=now + dt.timedelta(seconds=wait)
    )


def deleted(recording: Recording, *, now: dt.datetime, provider_deleted: bool) -> bool:
    """ready -> deleted: retention is over and the stored file is gone; the row stays, for the history."""
    updates = {"file": "", "deleted_at": now, "lease_until": None}
    if provider_deleted:
        updates["provider_deleted_at"] = now
    return _change(
        recording,
        to=State.DELETED,
        allowed_from=[State.READY],
        now=now,
        reason=f"retention of {settings.RECORDING_RETENTION_DAYS} days is over",
        updates=updates,
    ).changed


# --- who may play a recording, and the signed play links ------------------------------------------------------------


def entitled(meeting: Meeting, user) -> bool:
    """Decided at request time: staff with the permission to view recordings, the class's teacher, and the students
    whose seat was confirmed (guardians reach recordings through the student's login, as they link)."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return user.has_perm("meetings.view_recording")
    teacher = getattr(user, "teacher", None)
    if teacher is not None and teacher.pk == meeting.teacher_id:
        return True
    return Booking.objects.filter(meeting=meeting, student__user=user, status__in=BOOKED).exists()


def playable(meeting: Meeting):
    return meeting.recordings.filter(state=State.READY).exclude(file="")


def play_url(recording: Recording, user, *, now: dt.datetime) -> tuple[str, dt.datetime]:
    """A link that plays ``recording`` for ``user`` for RECORDING_PLAY_URL_MINUTES (signed; the person is checked
    again at each request) and when it expires."""
    token = signing.dumps({"r": recording.pk, "u": user.pk}, salt=PLAY_SALT, compress=True)
    expires = now + dt.timedelta(minutes=settings.RECORDING_PLAY_URL_MINUTES)
    return settings.PUBLIC_BASE_URL + reverse("recording-play", args=[token]), expires


class PlayRefused(Exception):
    def __init__(self, status: int, reason: Reason):
        super().__init__(reason.source())
        self.status, self.reason = status, reason


def open_for_play(token: str, user):
    """The recording a play link names, if the person it was made for may still play it (``user``: who asks now,
    if logged in: someone else's link is refused). PlayRefused(404) when not, (410) when the link has expired."""
    try:
        data = signing.loads(token, salt=PLAY_SALT, max_age=settings.RECORDING_PLAY_URL_MINUTES * 60)
    except signing.SignatureExpired:
        raise PlayRefused(410, Reason(gettext_noop("this play link has expired; open the recording again"))) from None
    except signing.BadSignature:
        raise PlayRefused(404, Reason(gettext_noop("no such recording"))) from None
    recording = (
        Recording.objects.select_related("meeting")
        .filter(Q(pk=data.get("r")), state=State.READY)
        .exclude(file="")
        .first()
    )
    owner = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if user is not None and user.is_authenticated and user.pk != data.get("u"):
        owner = None  # someone else's link
    if recording is None or owner is None or not entitled(recording.meeting, owner):
        raise PlayRefused(404, Reason(gettext_noop("no such recording")))
    return recording
