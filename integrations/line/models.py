import datetime as dt

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from core import audit


class LineChannel(models.Model):
    """One LINE Official Account. Each has its own webhook URL (/integrations/line/webhook/<slug>/) so the right
    secret is known before the body is parsed."""

    name = models.CharField(max_length=120, verbose_name=_("name"))
    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    channel_id = models.CharField(max_length=64, verbose_name=_("channel id"))
    channel_secret = models.CharField(max_length=128, verbose_name=_("channel secret"))
    access_token = models.TextField(verbose_name=_("access token"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    # Set when LINE answered 401: the token is wrong or revoked; the admin shows it until staff fix the token.
    auth_failed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("auth failed at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("line channel")
        verbose_name_plural = _("line channels")
        app_label = "integrations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LineWebhookEvent(models.Model):
    """A follow or unfollow event applied once per channel: LINE redelivers and duplicates events, the id unique
    with the channel makes a repeat a no-op (stored in the same transaction as its effect). Event ids are LINE's and
    are not promised unique across channels: the same id on another channel is another event."""

    webhook_event_id = models.CharField(max_length=64, verbose_name=_("webhook event id"))
    line_channel = models.ForeignKey(
        LineChannel, on_delete=models.CASCADE, related_name="webhook_events", verbose_name=_("line channel")
    )
    event_type = models.CharField(max_length=32, verbose_name=_("event type"))
    line_user_id = models.CharField(max_length=64, verbose_name=_("line user id"))
    timestamp = models.DateTimeField(
        help_text=_("When LINE says the event happened (events can arrive out of order)."), verbose_name=_("timestamp")
    )
    outcome = models.CharField(max_length=64, blank=True, verbose_name=_("outcome"))
    received_at = models.DateTimeField(verbose_name=_("received at"))

    class Meta:
        verbose_name = _("line webhook event")
        verbose_name_plural = _("line webhook events")
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
