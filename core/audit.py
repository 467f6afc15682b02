"""The audit trail: every history row of every state machine and every staff decision is written here.

One entry says who (``actor``: None is the system, a user is staff, a string another manual actor such as an
operator at a terminal), what (the object and the ``field``), from and to, why (``reason``) and ``data``, at the
operation's ``now``. ``meeting`` is set for everything that belongs to a class, so the class's page tells its whole
story. Values in ``data`` under a name that looks secret (token, secret, password, key...) are masked before they are
stored: the history is shown to every staff member, like pretix's ``log_action``.

:func:`record` writes entries at once; a batch (a sweep settling 500 classes) builds them with :func:`entries` as it
goes and writes them together with :func:`write`, one statement (COPY on PostgreSQL) for the whole batch. Either way in
the caller's transaction, so the entries commit with the change they describe, or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models

from core.models import StateChange

logger = logging.getLogger("classroom.transitions")

SYSTEM = "system"


def actor_name(actor) -> str:
    """Who acted: ``None`` is the system (a sweep); a user is staff; a string names another manual actor, such as
    an operator at a terminal ("operator root via manage.py")."""
    if actor is None:
        return SYSTEM
    return actor if isinstance(actor, str) else actor.get_username()


def actor_user_id(actor) -> int | None:
    return None if actor is None or isinstance(actor, str) else actor.pk


# A name in ``data`` that says its value is a secret.
SECRET_NAME = re.compile(r"secret|token|password|passwd|authorization|api_?key|access_?key|credential", re.IGNORECASE)
MASK = "********"


def mask(value):
    """``value`` with every value under a secret-looking name replaced by MASK, at any depth."""
    if isinstance(value, dict):
        return {key: MASK if SECRET_NAME.search(str(key)) else mask(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [mask(inner) for inner in value]
    return value


def entries(
    model: type[models.Model],
    changes: Iterable[tuple[int, str, int | None]],
    *,
    to_state: str,
    at: dt.datetime,
    actor=None,
    reason: str = "",
    field: str = "state",
    data: dict | None = None,
) -> list[StateChange]:
    """Unsaved history entries for ``(object id, from state, meeting id)`` triples: ``write`` them in the caller's
    transaction."""
    content_type = ContentType.objects.get_for_model(model)
    name = actor_name(actor)
    actor_id = actor_user_id(actor)
    masked = mask(data or {})
    return [
        StateChange(
            content_type=content_type,
            object_id=object_id,
            meeting_id=meeting_id,
            field=field,
            from_state=from_state,
            to_state=to_state,
            at=at,
            actor_id=actor_id,
            actor_name=name,
            reason=reason,
            data=masked,
        )
        for object_id, from_state, meeting_id in changes
    ]


def log(model: type[models.Model], object_id: int, from_state: str, to_state: str, **fields) -> None:
    """The log line of one change (secrets masked as in the history)."""
    logger.info(
        "transition",
        extra={
            "model": model._meta.model_name,
            "object_id": object_id,
            "from": from_state,
            "to": to_state,
            **mask(fields),
        },
    )


def record(model: type[models.Model], changes: Iterable[tuple[int, str, int | None]], **fields) -> list[StateChange]:
    """Build (see :func:`entries`) and write the history entries of one change, in the caller's transaction."""
    rows = entries(model, changes, **fields)
    write(rows)
    return rows


# A burst's history (a close writes one row per booking) goes through COPY on PostgreSQL from this many rows on.
COPY_HISTORY_FROM = 200


def write(rows: list[StateChange]) -> None:
    """Insert unsaved history rows in the caller's transaction; their ids are not read back.

    ``bulk_create`` for a few rows and on SQLite. On PostgreSQL a burst is streamed with ``COPY``: Django's
    ``bulk_create`` prepares every value of every row in Python and psycopg quotes them client-side, which was a
    quarter of a 1,000-meeting close (11,000 history rows); COPY writes the same rows in C. History has no unique
    key, so unlike ``notifications.outbox`` no staging table is needed.
    """
    if len(rows) < COPY_HISTORY_FROM or connection.vendor != "postgresql":
        StateChange.objects.bulk_create(rows, batch_size=1000)
        return
    fields = [f for f in StateChange._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(StateChange._meta.db_table)
    json_fields = [(i, f.encoder) for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            values = [getattr(row, f.attname) for f in fields]
            for i, encoder in json_fields:
                values[i] = json.dumps(values[i], cls=encoder, ensure_ascii=False)
            copy.write_row(values)
