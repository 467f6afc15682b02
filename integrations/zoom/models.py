"""The pool of Zoom host accounts and the Zoom webhook log."""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from integrations.webhooks import MeetingWebhookEvent


class ZoomAccount(models.Model):
    """One Zoom host user reached through a Server-to-Server OAuth app of its Zoom account.

    Zoom allows ZOOM_DAILY_REQUEST_LIMIT (100) meeting create/update requests per host user per UTC day, and free
    (Basic) hosts' meetings end after 40 minutes; integrations.zoom.pool picks an account that can take the class.
    """

    class Plan(models.TextChoices):
        BASIC = "basic", _("Basic (free: meetings end at 40 minutes)")
        PRO = "pro", _("Pro")
        BUSINESS = "business", _("Business")

    name = models.CharField(max_length=120, unique=True, verbose_name=_("name"))
    account_id = models.CharField(
        max_length=64,
        help_text=_("The Zoom account id of the Server-to-Server OAuth app."),
        verbose_name=_("account id"),
    )
    client_id = models.CharField(max_length=64, verbose_name=_("client id"))
    client_secret = models.CharField(max_length=128, verbose_name=_("client secret"))
    host_user_id = models.CharField(
        max_length=64,
        help_text=_("The Zoom user id (or e-mail) meetings are created for."),
        verbose_name=_("host user id"),
    )
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.PRO, verbose_name=_("plan"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))

    # The daily counter: the number of create/update requests on requests_date (UTC); a new day starts at 0.
    requests_today = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("requests today"))
    requests_date = models.DateField(null=True, blank=True, editable=False, verbose_name=_("requests date"))
    # Zoom said the daily limit is reached (a 429): skipped until the next 00:00 UTC.
    exhausted_until = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("exhausted until"))
    # Zoom answered 429 for its per-second rates: skipped until then.
    rate_limited_until = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("rate limited until")
    )
    # Zoom refused the credentials or the host user: skipped until staff fix the account (saving it clears this).
    auth_failed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("auth failed at"))
    last_error = models.TextField(blank=True, editable=False, verbose_name=_("last error"))
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last used at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("zoom account")
        verbose_name_plural = _("zoom accounts")
        app_label = "integrations"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account_id", "host_user_id"], name="zoom_account_host_once"),
        ]

    def __str__(self) -> str:
        return self.name

    def requests_on(self, day: dt.date) -> int:
        return self.requests_today if self.requests_date == day else 0

    def state_at(self, now: dt.datetime) -> str:
        """What the pool thinks of this account at ``now``, for the admin."""
        if not self.enabled:
            return "disabled"
        if self.auth_failed_at:
            return "credentials refused"
        if self.exhausted_until and self.exhausted_until > now:
            return "daily limit reached"
        if self.rate_limited_until and self.rate_limited_until > now:
            return "rate limited"
        if self.requests_on(now.date()) >= settings.ZOOM_DAILY_REQUEST_LIMIT:
            return "daily limit reached"
        return "available"


class ZoomWebhookEvent(MeetingWebhookEvent):
    """Each Zoom webhook applied. Zoom sends no event id; a retry repeats the same body, so the SHA-256 of the body
    is the key."""

    body_sha256 = models.CharField(max_length=64, unique=True, verbose_name=_("body sha256"))
    event = models.CharField(max_length=60, verbose_name=_("event"))
    zoom_meeting_id = models.BigIntegerField(verbose_name=_("zoom meeting id"))

    class Meta(MeetingWebhookEvent.Meta):
        verbose_name_plural = _("Zoom webhook events")
        verbose_name = _("Zoom webhook event")

    def __str__(self) -> str:
        return f"{self.event} {self.zoom_meeting_id}"
