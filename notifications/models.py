"""The outbox. Transitions write rows here in their own transaction; only the delivery sweep talks to the network."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

# The reason on a row for a person with neither LINE nor e-mail (live routing): skipped, never sent.
NO_CONTACT = "no contact"


class Notification(models.Model):
    class Kind(models.TextChoices):
        CLASS_OPEN = "class_open", "class is open"
        JOIN_LINK = "join_link", "join link"
        FEEDBACK_LINK = "feedback_link", "feedback link"
        CLASS_CLOSED = "class_closed", "class closed"
        CLASS_CANCELLED = "class_cancelled", "class cancelled"
        CLASS_RESCHEDULED = "class_rescheduled", "class rescheduled"
        BOOKING_CANCELLED = "booking_cancelled", "booking cancelled"
        BOOKING_REFUNDED = "booking_refunded", "booking refunded"
        SERIES_TIME_CHANGE = "series_time_change", "weekly class: local time changes"
        SERIES_OCCURRENCE_FULL = "series_occurrence_full", "weekly class: occurrence full"
        TEACHER_NO_SHOW = "teacher_no_show", "teacher no-show (staff)"
        DELIVERY_FAILED = "delivery_failed", "delivery failed (staff)"

    class Channel(models.TextChoices):
        LINE = "line", "LINE"
        EMAIL = "email"
        LOG = "log"
        NONE = "none", "no contact"

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"

    # "<kind>:<meeting id>:<recipient>": the database refuses a second copy of the same message to the same person.
    dedupe_key = models.CharField(max_length=200, unique=True, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices, editable=False)
    channel = models.CharField(max_length=16, choices=Channel.choices, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, editable=False)
    meeting = models.ForeignKey(
        "meetings.Meeting", on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    student = models.ForeignKey("classroom.Student", on_delete=models.CASCADE, null=True, blank=True)
    teacher = models.ForeignKey("classroom.Teacher", on_delete=models.CASCADE, null=True, blank=True)
    address = models.CharField(max_length=254, blank=True, help_text="LINE user id or e-mail address")
    line_channel = models.ForeignKey("integrations.LineChannel", on_delete=models.PROTECT, null=True, blank=True)
    payload = models.JSONField(help_text="The rendered message: text, and for links an imagemap")
    # Identical payloads to one LINE channel are delivered together by multicast.
    payload_hash = models.CharField(max_length=64, editable=False)
    attempts = models.PositiveIntegerField(default=0, editable=False)
    next_attempt_at = models.DateTimeField(default=timezone.now, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    provider_message_id = models.CharField(max_length=200, blank=True, editable=False)
    # Generated once, reused on every retry: LINE answers 409 to a key it already accepted (no duplicate message).
    retry_key = models.UUIDField(default=uuid.uuid4, editable=False)
    # The rows sent together in one LINE call, fixed before the first call (the retry key of its lowest row; a fresh
    # key for each half of a batch LINE refused with a 400, see integrations/line/channel.py): a retry resends
    # exactly this set with this key, so LINE's 409 can never cover a recipient it did not receive.
    line_batch_key = models.UUIDField(null=True, blank=True, editable=False, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    failed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="notification_due"),
            models.Index(fields=["meeting", "kind"], name="notification_meeting_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.address or '?'} ({self.state})"
