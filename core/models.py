"""The models every app shares: the history of every state machine, the guard that keeps state fields to their
transitions (and the constraint that keeps them to their values), and the heartbeat of every runner of the sweeps."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class StateGuardMixin:
    """State fields change only through the transition functions (which use ``QuerySet.update``).

    A ``save()`` that would change the state of an existing row raises instead: the admin, a shell session or a
    careless view cannot skip the compare-and-set, the history row and the outbox.
    """

    state_field = "state"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Deferred (.only()) loads may leave the state out; then there is nothing to guard.
        instance._loaded_state = instance.__dict__.get(cls.state_field)
        return instance

    def save(self, *args, **kwargs):
        loaded = getattr(self, "_loaded_state", None)
        current = getattr(self, self.state_field)
        if self.pk is not None and loaded is not None and current != loaded:
            raise ValueError(
                f"{type(self).__name__}.{self.state_field} changes only through its transitions "
                f"({loaded!r} -> {current!r} refused)"
            )
        super().save(*args, **kwargs)
        self._loaded_state = current


def choice_check(field: str, values, *, name: str, message: str) -> models.CheckConstraint:
    """The database refuses a ``field`` value outside ``values``: Django checks a field's choices only in forms, and
    state fields are written by ``QuerySet.update``."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": list(values)}), name=name, violation_error_message=message
    )


class StateChange(models.Model):
    """The audit trail: one row per transition of any state machine (meeting, booking, appointment, payout).

    ``meeting`` is set for every object that belongs to a meeting, so a meeting's page shows its whole story:
    its own transitions, its bookings', appointments' and payout's.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, verbose_name=_("content type"))
    object_id = models.PositiveBigIntegerField(verbose_name=_("object id"))
    obj = GenericForeignKey("content_type", "object_id")
    meeting = models.ForeignKey(
        "meetings.Meeting",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="history",
        verbose_name=_("meeting"),
    )
    field = models.CharField(max_length=32, default="state", verbose_name=_("field"))
    from_state = models.CharField(max_length=32, blank=True, verbose_name=_("from state"))
    to_state = models.CharField(max_length=32, verbose_name=_("to state"))
    at = models.DateTimeField(help_text=_("UTC, the `now` of the operation"), verbose_name=_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("actor")
    )
    actor_name = models.CharField(
        max_length=150, help_text=_("'system' or the staff user's name at the time"), verbose_name=_("actor name")
    )
    reason = models.TextField(blank=True, verbose_name=_("reason"))
    data = models.JSONField(default=dict, blank=True, verbose_name=_("data"))

    class Meta:
        # The table it has had since it lived in meetings (moved without copying a row: core 0001, meetings 0005).
        db_table = "meetings_statechange"
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "at"], name="history_object"),
            models.Index(fields=["meeting", "at"], name="history_meeting"),
        ]
        verbose_name = _("history entry")
        verbose_name_plural = _("history")

    def __str__(self) -> str:
        return f"{self.content_type.model} {self.object_id}: {self.from_state or '∅'} → {self.to_state}"

    @property
    def subject(self) -> str:
        """What changed, in words: "class 7", "booking 12"."""
        model = self.content_type.model
        return f"{HISTORY_OBJECT_WORDS.get(model, model)} {self.object_id}"

    def describe(self) -> str:
        """The change in words, as staff say it: "join link sent", "booking confirmed", "start: ... → ...". A field
        that holds a state reads "<what> <new state>"; any other field "<what>: <from> → <to>"."""
        model = self.content_type.model
        to = HISTORY_STATE_WORDS.get(self.to_state, self.to_state.replace("_", " "))
        if self.field in ("state", "status"):
            return gettext("%(what)s %(state)s") % {"what": HISTORY_OBJECT_WORDS.get(model, model), "state": to}
        words = HISTORY_FIELD_WORDS.get(self.field, self.field.replace("_", " "))
        if self.field.endswith("_state"):
            return gettext("%(what)s %(state)s") % {"what": words, "state": to}
        return f"{words}: {self.from_state} → {self.to_state}" if self.from_state else f"{words}: {self.to_state}"


# The states as the history says them ("join link sent"); a state not listed reads as its value.
HISTORY_STATE_WORDS = {
    "scheduled": _("scheduled"),
    "open": _("open"),
    "in_progress": _("in progress"),
    "closed": _("closed"),
    "cancelled": _("cancelled"),
    "pending": _("pending"),
    "confirmed": _("confirmed"),
    "completed": _("completed"),
    "refunded": _("refunded"),
    "held": _("held"),
    "approved": _("approved"),
    "paid": _("paid"),
    "sent": _("sent"),
    "skipped": _("skipped"),
    "failed": _("failed"),
    "awaiting": _("awaiting"),
    "released": _("released"),
    "no_show": _("no show"),
    "excused": _("excused"),
}


# The words the history uses for the objects and fields its rows name (StateChange.describe).
HISTORY_OBJECT_WORDS = {
    "meeting": _("class"),
    "booking": _("booking"),
    "appointment": _("appointment"),
    "payout": _("payout"),
    "notification": _("message"),
    "recording": _("recording"),
}
HISTORY_FIELD_WORDS = {
    "join_link_state": _("join link"),
    "feedback_link_state": _("feedback link"),
    "review_state": _("review"),
    "teacher": _("teacher"),
    "start_time": _("start"),
    "end_time": _("end"),
    "min_participants": _("minimum participants check"),
    "attendance": _("attendance"),
    "amounts": _("amounts"),
    "adjustment": _("payout adjustment"),
    "feedback": _("feedback"),
    "marks": _("marks"),
    "auth_failed_at": _("sign-in failure"),
}


class SweepHeartbeat(models.Model):
    """When each runner (the clock, the maintenance pass, a manual run) last completed, for /healthz and the admin."""

    name = models.CharField(max_length=64, unique=True, verbose_name=_("name"))
    last_started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last started at"))
    last_completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last completed at"))
    last_counts = models.JSONField(default=dict, blank=True, verbose_name=_("last counts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))

    class Meta:
        verbose_name = _("sweep heartbeat")
        verbose_name_plural = _("sweep heartbeats")
        db_table = "meetings_sweepheartbeat"

    def __str__(self) -> str:
        return self.name
