"""Writing to the outbox: build rows, insert them once. Never touches the network (delivery does that later).

A row's ``dedupe_key`` is ``<kind>:<meeting>:<recipient>``, unique in the database, and rows are inserted with
``ON CONFLICT DO NOTHING``: two sweeps that both decide to tell Alice her class is open write one row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import connection, models, transaction

from classroom.models import Student
from core import phones
from notifications.messages import render, subject, time_context, zalo_values
from notifications.models import NO_CONTACT, Notification

Channel = Notification.Channel


def _row_class():
    """An unsaved outbox row: a plain slotted dataclass with Notification's columns (built from the model, so a new
    field needs no change here) and the model's defaults (``retry_key`` a fresh UUID per row). An open burst writes
    11,000 rows; a model instance each cost a third of the burst's time, and the rows are only ever inserted."""
    fields = []
    for field in Notification._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.has_default() and callable(field.default):
            spec = dataclasses.field(default_factory=field.default)
        else:
            spec = dataclasses.field(default=field.get_default())
        fields.append((field.attname, object, spec))
    return dataclasses.make_dataclass("OutboxRow", fields, kw_only=True, slots=True)


OutboxRow = _row_class()


@dataclass(frozen=True)
class Recipient:
    key: str
    role: str  # student | guardian | teacher | staff
    language: str
    time_zone: str
    channel: str
    address: str
    student_id: int | None = None
    teacher_id: int | None = None
    line_channel_id: int | None = None
    # More template values (a guardian's message names the student: "Your child An's class ...").
    context: tuple = ()


class LineRoute(NamedTuple):
    """One linked LINE contact of a student (``integrations.LineContact``, read through ``student.line_contacts``
    so this module imports no integration)."""

    contact_id: int
    line_user_id: str
    line_channel_id: int
    role: str  # student | guardian
    following: bool
    guardian_kinds: list


class StudentContact(NamedTuple):
    """What routing and rendering need of a student, read as plain values (no model instances in a burst)."""

    pk: int
    language: str
    time_zone: str
    email: str
    display_name: str
    phone: str = ""
    zalo_consent: bool = False
    channel_order: str = ""
    line: tuple[LineRoute, ...] = ()


STUDENT_FIELDS = ("id", "language", "time_zone", "email", "display_name", "phone", "zalo_consent", "channel_order")
LINE_FIELDS = ("id", "line_user_id", "line_channel_id", "role", "following", "guardian_kinds", "student_id")


def _line_routes(student_ids) -> dict[int, tuple[LineRoute, ...]]:
    """The linked contacts of these students, one query (through the reverse relation of Student)."""
    contacts = Student.line_contacts.rel.related_model.objects.filter(student_id__in=list(student_ids))
    routes: dict[int, list[LineRoute]] = {}
    for *values, student_id in contacts.order_by("pk").values_list(*LINE_FIELDS):
        routes.setdefault(student_id, []).append(LineRoute(*values))
    return {pk: tuple(found) for pk, found in routes.items()}


def reach(students) -> dict[int, StudentContact]:
    """Students (instances or ids) as StudentContacts with their LINE contacts: two queries for any number."""
    ids = {getattr(s, "pk", s) for s in students}
    routes = _line_routes(ids)
    return {
        pk: StudentContact(pk, *values, line=routes.get(pk, ()))
        for pk, *values in Student.objects.filter(pk__in=ids).values_list(*STUDENT_FIELDS)
    }


def channel_order(student) -> list[str]:
    """The channels to try for this student, in order: their own ``channel_order``, else the school's default for
    the country of their phone number (or the school's country): NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY."""
    order = student.channel_order
    if not order:
        country = phones.region(student.phone) or settings.SCHOOL_COUNTRY
        order = settings.NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY.get(country, settings.NOTIFICATION_CHANNEL_ORDER)
    return [name.strip() for name in order.split(",") if name.strip()]


def for_student(student, kind: str) -> list[Recipient]:
    """Who hears about ``kind`` for this student (a Student or a StudentContact from :func:`reach`):

    * the first reachable channel of the student's order (:func:`channel_order`, e.g. zalo, line, email):
      Zalo when they have a Vietnamese phone number and gave Zalo consent (ZNS, to the number); LINE when one of
      their own linked LINE contacts follows (each such contact); e-mail when they have an address;
    * if none is reachable and nobody at all is told, one row written skipped: "no contact";
    * and each linked, following guardian who opted in to ``kind`` (the join link by default), in the student's
      language and zone, the message naming the student.

    In the demo (NOTIFICATION_CHANNEL=log) the same people are "told" through the log.
    """
    if not isinstance(student, StudentContact):  # a Student instance: its own values, its contacts read now
        values = [getattr(student, name) for name in ("pk", *STUDENT_FIELDS[1:])]
        student = StudentContact(*values, line=_line_routes([student.pk]).get(student.pk, ()))
    log = settings.NOTIFICATION_CHANNEL == "log"
    base = {"language": student.language, "time_zone": student.time_zone, "student_id": student.pk}
    reachable = [route for route in student.line if route.following]
    own = [r for r in reachable if r.role == "student"]
    guardians = [r for r in reachable if r.role == "guardian" and kind in (r.guardian_kinds or ())]
    zalo_number = phones.zns_number(student.phone) if student.zalo_consent else ""
    available = {"zalo": bool(zalo_number), "line": bool(own), "email": bool(student.email)}
    chosen = next((name for name in channel_order(student) if available.get(name)), None)
    line_channel = Channel.LOG if log else Channel.LINE
    recipients = [
        Recipient(
            key=f"line:{route.contact_id}",
            role=route.role,
            channel=line_channel,
            address=route.line_user_id,
            line_channel_id=None if log else route.line_channel_id,
            context=(("student", student.display_name),) if route.role == "guardian" else (),
            **base,
        )
        for route in (own if chosen == "line" else []) + guardians
    ]
    if chosen == "zalo":
        recipients.insert(
            0,
            Recipient(
                key=f"zalo:{student.pk}",
                role="student",
                channel=Channel.LOG if log else Channel.ZALO,
                address=zalo_number,
                context=(("name", student.display_name),),
                **base,
            ),
        )
    elif chosen != "line" and (chosen == "email" or not guardians or log):
        channel = Channel.LOG if log else (Channel.EMAIL if chosen == "email" else Channel.NONE)
        address = student.email if chosen == "email" or log else ""
        recipients.insert(
            0, Recipient(key=f"student:{student.pk}", role="student", channel=channel, address=address, **base)
        )
    return recipients


def _person(role: str, person) -> Recipient:
    """A teacher as a recipient, in their language and zone: the log in the demo; else e-mail, else none (the row
    is written already skipped, "no contact": the outbox shows who was not told, and why)."""
    if settings.NOTIFICATION_CHANNEL == "log":
        channel = Channel.LOG
    else:
        channel = Channel.EMAIL if person.email else Channel.NONE
    return Recipient(
        key=f"{role}:{person.pk}",
        role=role,
        language=person.language,
        time_zone=person.time_zone,
        channel=channel,
        address=person.email,
        **{f"{role}_id": person.pk},
    )


def for_teacher(teacher) -> Recipient:
    return _person("teacher", teacher)


def staff() -> list[Recipient]:
    """Staff alerts go by e-mail to STAFF_ALERT_EMAILS, or to the log when none is configured (then the log is
    their destination, and an alert logged there is sent, unlike a student or teacher without contact)."""
    if not settings.STAFF_ALERT_EMAILS or settings.NOTIFICATION_CHANNEL == "log":
        return [Recipient(key="staff", role="staff", language="en", time_zone="UTC", channel=Channel.LOG, address="")]
    return [
        Recipient(
            key=f"staff:{email}", role="staff", language="en", time_zone="UTC", channel=Channel.EMAIL, address=email
        )
        for email in settings.STAFF_ALERT_EMAILS
    ]


def payload_hash(channel: str, line_channel_id: int | None, payload: dict) -> str:
    blob = json.dumps([channel, line_channel_id, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _rendered(kind, role, language, time_zone, channel, line_channel_id, url, meeting_key, context_items):
    """(payload, hash) for one distinct message. Cached: an open burst sends the same text to every student of a
    class who shares a language and a zone, and rendering plus hashing was most of the burst's time. Every input is
    in the key, so a cached entry is never stale."""
    values = dict(context_items)
    if meeting_key is not None:
        _pk, title, start, end = meeting_key
        values.setdefault("title", title)
        values.setdefault("meeting_id", _pk)
        values.update(time_context(start, end, time_zone))
    if url:
        values["url"] = url
    payload = {"text": render(kind, role, language, values)}
    if channel == Channel.EMAIL:
        # Written now, in the reader's language: delivery runs in no one's language.
        payload["subject"] = subject(kind, language)
    if url:
        payload["url"] = url
    if channel == Channel.ZALO:
        # The values of the kind's approved ZNS template, in Vietnamese (integrations/zalo/channel.py fills them in).
        start, end = (meeting_key[2], meeting_key[3]) if meeting_key is not None else (None, None)
        payload["zalo"] = zalo_values(kind, role, values, start, end, time_zone)
    return payload, payload_hash(channel, line_channel_id, payload)


def to_student(kind: str, student, *, now: dt.datetime, **fields) -> list[OutboxRow]:
    """The rows of one message to a student: one per recipient of :func:`for_student` (``fields`` as for
    :func:`message`)."""
    return [message(kind, recipient, now=now, **fields) for recipient in for_student(student, kind)]


def message(
    kind: str,
    recipient: Recipient,
    *,
    now: dt.datetime,
    meeting=None,
    url: str | None = None,
    context: dict | None = None,
    dedupe_suffix: str = "",
) -> OutboxRow:
    """An unsaved outbox row with its text rendered for ``recipient`` (``enqueue`` inserts it)."""
    meeting_key = None if meeting is None else (meeting.pk, meeting.title, meeting.start_time, meeting.end_time)
    payload, digest = _rendered(
        kind,
        recipient.role,
        recipient.language,
        recipient.time_zone,
        recipient.channel,
        recipient.line_channel_id,
        url,
        meeting_key,
        tuple(sorted({**(context or {}), **dict(recipient.context)}.items())),
    )
    scope = meeting.pk if meeting is not None else "-"
    unreachable = recipient.channel == Channel.NONE
    return OutboxRow(
        dedupe_key=f"{kind}:{scope}:{recipient.key}{dedupe_suffix}",
        kind=kind,
        channel=recipient.channel,
        meeting_id=None if meeting is None else meeting.pk,
        student_id=recipient.student_id,
        teacher_id=recipient.teacher_id,
        address=recipient.address,
        line_channel_id=recipient.line_channel_id,
        payload=dict(payload),
        payload_hash=digest,
        next_attempt_at=now,
        created_at=now,
        # Nobody to send it to: written skipped, so delivery never claims it (and never counts it as sent).
        state=Notification.State.SKIPPED if unreachable else Notification.State.PENDING,
        last_error=NO_CONTACT if unreachable else "",
    )


def staff_alerts(
    kind: str, *, now: dt.datetime, meeting=None, context: dict | None = None, dedupe_suffix: str = ""
) -> list[OutboxRow]:
    """The one way staff are alerted: an unsaved outbox row of ``kind`` for each staff recipient (``staff()``), to
    ``enqueue`` in the caller's transaction. The outbox key makes a second alert about the same thing (the same
    meeting, or ``dedupe_suffix``) a no-op, however often a sweep decides to send it."""
    return [
        message(kind, recipient, now=now, meeting=meeting, context=context, dedupe_suffix=dedupe_suffix)
        for recipient in staff()
    ]


def contacts_by_meeting(bookings) -> dict[int, list[StudentContact]]:
    """The students of a Booking queryset (with their LINE contacts), grouped by meeting: two queries."""
    pairs = list(bookings.values_list("meeting_id", "student_id"))
    reached = reach({student_id for _, student_id in pairs})
    grouped: dict[int, list[StudentContact]] = {}
    for meeting_id, student_id in pairs:
        grouped.setdefault(meeting_id, []).append(reached[student_id])
    return grouped


def enqueue(rows: Iterable[OutboxRow]) -> int:
    """Insert rows, silently keeping the first of any duplicate. A transition calls it inside its own transaction
    (the rows commit with the state change); the delivery sweep's staff alerts call it in autocommit."""
    rows = list(rows)
    if not rows:
        pass
    elif connection.vendor == "postgresql":
        _copy_insert(rows)
    else:
        models_ = [Notification(**{f.name: getattr(row, f.name) for f in dataclasses.fields(row)}) for row in rows]
        Notification.objects.bulk_create(models_, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def _copy_insert(rows: list[OutboxRow]) -> None:
    """PostgreSQL: COPY into a session-local staging table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING.

    Same result as ``bulk_create(ignore_conflicts=True)`` (the unique dedupe_key still decides duplicates, inside the
    caller's transaction), about three times faster for an open burst's 11,000 rows: Django prepares every value of
    every field in Python and psycopg quotes its UNNEST arrays client-side, while COPY streams rows in C.

    The staging table is ``ON COMMIT DELETE ROWS``, so the three statements run in one transaction (a savepoint
    inside the caller's): in autocommit each statement would commit on its own, and the COPY's rows would be gone
    before the INSERT reads them.
    """
    fields = [f for f in Notification._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    # The column list is in the name, so a connection that outlives a migration never reuses a stale shape.
    stage = f"notification_stage_{hashlib.sha1(columns.encode()).hexdigest()[:10]}"
    json_fields = {i for i, f in enumerate(fields) if isinstance(f, models.JSONField)}
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {Notification._meta.db_table} WITH NO DATA"
        )
        with raw.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = [getattr(row, f.attname) for f in fields]
                for i in json_fields:
                    values[i] = json.dumps(values[i], ensure_ascii=False)
                copy.write_row(values)
        raw.execute(
            f"INSERT INTO {Notification._meta.db_table} ({columns}) SELECT {columns} FROM {stage} "
            "ON CONFLICT (dedupe_key) DO NOTHING"
        )
        raw.execute(f"TRUNCATE {stage}")
