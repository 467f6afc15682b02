"""The one way a state changes: compare-and-set inside a transaction, plus a history row, plus a log line.

Every state machine (meeting, booking, appointment, payout) goes through :func:`transition` for single objects, or
through :mod:`core.audit` + a conditional ``UPDATE`` for batches (see ``meetings.lifecycle``). Either way:

* the row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the IMMEDIATE transaction already holds the
  database's write lock) and the ``UPDATE`` still filters on the state it read, so two processes racing on the same
  transition cannot both win: the loser sees the new state and reports "already done";
* the history row and any outbox rows are written in the same transaction as the state change, so a crash leaves
  all of them or none of them;
* illegal moves raise :class:`~core.errors.IllegalTransition` with a message a person can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import models, transaction
from django.utils.translation import gettext as _

from core import audit
from core.errors import IllegalTransition, NotFound


@dataclass(frozen=True)
class Outcome:
    changed: bool
    from_state: str
    to_state: str
    message: str

    @property
    def already(self) -> bool:
        return not self.changed


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
            raise NotFound(_("%(object)s %(id)s does not exist") % {"object": label, "id": obj.pk})
        if current in done:
            setattr(obj, field, current)
            return Outcome(
                False,
                current,
                current,
                _("%(object)s %(id)s is already %(state)s") % {"object": label, "id": obj.pk, "state": current},
            )
        if current not in allowed:
            raise IllegalTransition(
                _("%(object)s %(id)s is %(state)s; it cannot become %(to)s")
                % {"object": label, "id": obj.pk, "state": current, "to": to}
            )
        changed = model.objects.filter(pk=obj.pk, **{field: current}).update(**{field: to}, **updates)
        if changed != 1:  # cannot happen under the row lock; kept as the compare-and-set's own guarantee
            raise IllegalTransition(
                _("%(object)s %(id)s changed while we looked at it; try again") % {"object": label, "id": obj.pk}
            )
        audit.record(
            model,
            [(obj.pk, current, meeting_id)],
            to_state=to,
            at=now,
            actor=actor,
            reason=reason,
            field=field,
            data=data,
        )
        if in_transaction is not None:
            in_transaction(current)
    for key, value in {field: to, **updates}.items():
        if not isinstance(value, models.expressions.Combinable):
            setattr(obj, key, value)
    if hasattr(obj, "_loaded_state"):
        obj._loaded_state = to
    audit.log(model, obj.pk, current, to, actor=audit.actor_name(actor), reason=reason, **(data or {}))
    return Outcome(True, current, to, f"{label} {obj.pk}: {current} → {to}")
