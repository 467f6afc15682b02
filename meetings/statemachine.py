"""The one way a state changes: compare-and-set inside a transaction, plus a history row, plus a log line.

Every state machine (meeting, booking, appointment, payout) goes through :func:`transition` for single objects, or
through :func:`history_rows` + a conditional ``UPDATE`` for batches (see ``meetings.lifecycle``). Either way:

* the row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the IMMEDIATE transaction already holds the
  database's write lock) and the ``UPDATE`` still filters on the state it read, so two processes racing on the same
  transition cannot both win: the loser sees the new state and reports "already done";
* the history row and any outbox rows are written in the same transaction as the state change, so a crash leaves
  all of them or none of them;
* illegal moves raise :class:`~classroom.errors.IllegalTransition` with a message a person can act on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from classroom.errors import IllegalTransition, NotFound
from meetings.models import StateChange

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


@dataclass(frozen=True)
class Outcome:
    changed: bool
    from_state: str
    to_state: str
    message: str

    @property
    def already(self) -> bool:
        return not self.changed


def history_rows(
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
    """Unsaved history rows for ``(object id, from state, meeting id)`` triples; bulk-create them in the caller's
    transaction."""
    content_type = ContentType.objects.get_for_model(model)
    name = actor_name(actor)
    actor_id = actor_user_id(actor)
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
            data=data or {},
        )
        for object_id, from_state, meeting_id in changes
    ]


def log_transition(model: type[models.Model], object_id: int, from_state: str, to_state: str, **fields) -> None:
    logger.info(
        "transition",
        extra={"model": model._meta.model_name, "object_id": object_id, "from": from_state, "to": to_state, **fields},
    )


def transition(
    obj: models.Model,
    *,
    to: str,
    allowed_from: Iterable[str],
    now: dt.datetime,
    actor=None,
    reason: str = "",
    field: str = "state",
    updates: dict | None = None,
    done_states: Iterable[str] | None = None,
    meeting_id: int | None = None,
    in_transaction: Callable[[str], None] | None = None,
    data: dict | None = None,
) -> Outcome:
    """Move ``obj`` to ``to`` if it is in one of ``allowed_from``.

    Already in ``to`` (or one of ``done_states``): nothing changes and the outcome says "already". In any other state:
    :class:`IllegalTransition`. ``in_transaction(from_state)`` runs after the update inside the same transaction, for
    the writes the transition causes (outbox rows, dependent transitions).
    """
    model = type(obj)
    label = model._meta.verbose_name
    allowed = set(allowed_from)
    done = set(done_states or ()) | {to}
    updates = dict(updates or {})
    with transaction.atomic():
        # Ordered by pk, not the model's default ordering: Booking's goes through its meeting, and the join would
        # make the lock take the meeting row too (a booking transition would queue behind, or deadlock with, any
        # transaction holding the meeting).
        current = (
            model.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk=obj.pk)
            .order_by("pk")
            .values_list(field, flat=True)
            .first()
        )
        if current is None:
            raise NotFound(f"{label} {obj.pk} does not exist")
        if current in done:
            setattr(obj, field, current)
            return Outcome(False, current, current, f"{label} {obj.pk} is already {current}")
        if current not in allowed:
            raise IllegalTransition(f"{label} {obj.pk} is {current}; it cannot become {to}")
        changed = model.objects.filter(pk=obj.pk, **{field: current}).update(**{field: to}, **updates)
        if changed != 1:  # cannot happen under the row lock; kept as the compare-and-set's own guarantee
            raise IllegalTransition(f"{label} {obj.pk} changed while we looked at it; try again")
        StateChange.objects.bulk_create(
            history_rows(
                model,
                [(obj.pk, current, meeting_id)],
                to_state=to,
                at=now,
                actor=actor,
                reason=reason,
                field=field,
                data=data,
            )
        )
        if in_transaction is not None:
            in_transaction(current)
    for key, value in {field: to, **updates}.items():
        if not isinstance(value, models.expressions.Combinable):
            setattr(obj, key, value)
    if hasattr(obj, "_loaded_state"):
        obj._loaded_state = to
    log_transition(model, obj.pk, current, to, actor=actor_name(actor), reason=reason, **(data or {}))
    return Outcome(True, current, to, f"{label} {obj.pk}: {current} → {to}")


# A burst's history (a close writes one row per booking) goes through COPY on PostgreSQL from this many rows on.
COPY_HISTORY_FROM = 200


def insert_history(rows: list[StateChange]) -> None:
    """Insert unsaved history rows in the caller's transaction; their ids are not read back.

    ``bulk_create`` for a few rows and on SQLite. On PostgreSQL a burst is streamed with ``COPY``: Django's
    ``bulk_create`` prepares every value of every row in Python and psycopg quotes them client-side, which was a
    quarter of a 1,000-meeting close (11,000 history rows); COPY writes the same rows in C. History has no unique
    key, so unlike ``notifications.outbox`` no staging table is needed.
    """
    from django.db import connection

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
