import datetime as dt

from django.db import models, transaction

from core import audit


class LineChannel(models.Model):
    """One LINE Official Account. Each has its own webhook URL (/integrations/line/webhook/<slug>/) so the right
    secret is known before the body is parsed."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    channel_id = models.CharField(max_length=64)
    channel_secret = models.CharField(max_length=128)
    access_token = models.TextField()
    enabled = models.BooleanField(default=True)
    # Set when LINE answered 401: the token is wrong or revoked; the admin shows it until staff fix the token.
    auth_failed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "integrations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LineWebhookEvent(models.Model):
    """A follow or unfollow event applied once per channel: LINE redelivers and duplicates events, the id unique
    with the channel makes a repeat a no-op (stored in the same transaction as its effect). Event ids are LINE's and
    are not promised unique across channels: the same id on another channel is another event."""

    webhook_event_id = models.CharField(max_length=64)
    line_channel = models.ForeignKey(LineChannel, on_delete=models.CASCADE, related_name="webhook_events")
    event_type = models.CharField(max_length=32)
    line_user_id = models.CharField(max_length=64)
    timestamp = models.DateTimeField(help_text="When LINE says the event happened (events can arrive out of order).")
    outcome = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        app_label = "integrations"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["line_channel", "webhook_event_id"], name="line_webhook_event_once_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.line_user_id} ({self.outcome})"


def clear_auth_flags(channels, *, now: dt.datetime, actor) -> int:
    """Staff fixed the channels' tokens: they are tried again (the flag set on LINE's 401 is cleared), each with a
    history entry naming who did it. Returns how many were flagged."""
    with transaction.atomic():
        flagged = list(channels.filter(auth_failed_at__isnull=False).values_list("pk", flat=True))
        LineChannel.objects.filter(pk__in=flagged).update(auth_failed_at=None)
        audit.record(
            LineChannel,
            [(pk, "token refused", None) for pk in flagged],
            to_state="cleared",
            at=now,
            actor=actor,
            field="auth_failed_at",
            reason="the token was fixed",
        )
    return len(flagged)
