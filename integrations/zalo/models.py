"""Zalo Official Accounts (ZNS): the channel with its OAuth v4 tokens, the approved template of each message kind,
and what we know of each message sent through it (the receipt webhook fills ``received_at``)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from integrations.line import models as line_models
from notifications.messages import ZALO_VALUES

# The kinds whose message carries a link: ZNS allows links only as buttons, so their template needs a button.
LINK_KINDS = ("join_link", "feedback_link")
# The kinds staff map to a ZNS template (students' messages); any other kind is skipped on Zalo.
TEMPLATE_KINDS = (
    "join_link",
    "feedback_link",
    "class_open",
    "class_rescheduled",
    "class_cancelled",
    "booking_cancelled",
    "booking_refunded",
    "series_time_change",
    "series_occurrence_full",
)


class ZaloChannel(line_models.MessagingChannel):
    """One Zalo Official Account and the Zalo app that sends ZNS for it. The webhook URL is per channel
    (/integrations/zalo/webhook/<slug>/), so the right secret is known before the body is read.

    Tokens (OAuth v4): the access token lives about 25 hours and is refreshed before ``token_expires_at``; each
    refresh returns a new refresh token, stored at once (the old one is dead). A refresh Zalo refuses sets
    ``auth_failed_at`` (shown in the admin, as LINE's 401): staff paste a fresh refresh token to clear it."""

    app_id = models.CharField(max_length=64, verbose_name=_("app id"))
    oa_id = models.CharField(max_length=64, verbose_name=_("OA id"))
    secret_key = models.CharField(
        max_length=128, help_text=_("The Zalo app's secret key (token refresh)."), verbose_name=_("secret key")
    )
    oa_secret_key = models.CharField(
        max_length=128,
        help_text=_("The OA secret key of the app's webhook settings (signs receipts)."),
        verbose_name=_("OA secret key"),
    )
    access_token = models.TextField(blank=True, verbose_name=_("access token"))
    refresh_token = models.TextField(verbose_name=_("refresh token"))
    token_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("Empty: refreshed before the first message."),
        verbose_name=_("token expires at"),
    )
    auth_error = models.CharField(max_length=300, blank=True, editable=False, verbose_name=_("auth error"))

    class Meta(line_models.MessagingChannel.Meta):
        verbose_name = _("Zalo channel")
        verbose_name_plural = _("Zalo channels")


class ZaloTemplate(models.Model):
    """The approved ZNS template of one message kind on one channel, and what fills each of its parameters
    (``parameters``: ZNS parameter name -> one of our values, e.g. ``{"ten_hoc_vien": "name", "gio": "start"}``).
    The link of a join or feedback message goes in the button parameter, as ZNS requires."""

    zalo_channel = models.ForeignKey(
        ZaloChannel, on_delete=models.CASCADE, related_name="templates", verbose_name=_("Zalo channel")
    )
    kind = models.CharField(
        max_length=32, choices=[(k, k.replace("_", " ")) for k in TEMPLATE_KINDS], verbose_name=_("kind")
    )
    template_id = models.CharField(
        max_length=32, help_text=_("The id Zalo gave the approved template."), verbose_name=_("template id")
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            'Template parameter -> our value, e.g. {"ten": "name"}; values: message, name, student, title, date, '
            "start, end, zone, reason (a link goes in the button parameter)."
        ),
        verbose_name=_("parameters"),
    )
    button_parameter = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("The parameter of the template's button that takes the link (join and feedback links)."),
        verbose_name=_("button parameter"),
    )

    class Meta:
        verbose_name = _("Zalo template")
        verbose_name_plural = _("Zalo templates")
        app_label = "integrations"
        ordering = ["zalo_channel", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["zalo_channel", "kind"], name="zalo_template_once_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.template_id}"

    def clean(self):
        super().clean()
        params = self.parameters
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise ValidationError({"parameters": _("Give an object of parameter name -> value name.")})
        unknown = sorted(v for v in params.values() if v not in ZALO_VALUES)
        if unknown:
            raise ValidationError(
                {
                    "parameters": _("Unknown values %(unknown)s; choose from %(values)s.")
                    % {"unknown": ", ".join(unknown), "values": ", ".join(ZALO_VALUES)}
                }
            )
        if "url" in params.values():
            raise ValidationError({"parameters": _("A link goes in the button parameter, not in the text.")})
        if self.kind in LINK_KINDS and not self.button_parameter:
            raise ValidationError(
                {"button_parameter": _("A message with a link needs the template's button parameter.")}
            )
        if self.button_parameter and self.button_parameter in params:
            raise ValidationError({"button_parameter": _("The button parameter is already a text parameter.")})

    def template_data(self, values: dict) -> tuple[dict, list[str]]:
        """(ZNS ``template_data``, the parameters that have no value)."""
        data, missing = {}, []
        wanted = dict(self.parameters)
        if self.button_parameter:
            wanted[self.button_parameter] = "url"
        for parameter, value_name in wanted.items():
            value = values.get(value_name, "")
            if value:
                data[parameter] = value
            else:
                missing.append(parameter)
        return data, missing


class ZaloMessage(models.Model):
    """One outbox row sent (or being sent) through ZNS. Written *before* the call (``calling``), so a worker that
    dies mid-call, or a call whose answer is lost, leaves a trace: the next attempt knows Zalo may have sent it
    (ZNS has no retry key; see integrations/zalo/channel.py, "Exactly once")."""

    class State(models.TextChoices):
        CALLING = "calling", _("calling (answer not yet stored)")
        ACCEPTED = "accepted", _("accepted")
        REFUSED = "refused", _("refused")
        UNKNOWN = "unknown", _("answer lost (may have been sent)")

    notification = models.OneToOneField(
        "notifications.Notification", on_delete=models.CASCADE, related_name="zalo", verbose_name=_("notification")
    )
    zalo_channel = models.ForeignKey(
        ZaloChannel, on_delete=models.PROTECT, related_name="messages", verbose_name=_("Zalo channel")
    )
    tracking_id = models.CharField(max_length=64, verbose_name=_("tracking id"))
    state = models.CharField(max_length=16, choices=State.choices, verbose_name=_("state"))
    calls = models.PositiveIntegerField(default=0, verbose_name=_("calls"))
    msg_id = models.CharField(max_length=100, blank=True, verbose_name=_("Zalo message id"))
    last_call_at = models.DateTimeField(verbose_name=_("last call at"))
    received_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Zalo's receipt: on the user's phone."), verbose_name=_("received at")
    )

    class Meta:
        verbose_name = _("Zalo message")
        verbose_name_plural = _("Zalo messages")
        app_label = "integrations"
        ordering = ["-last_call_at", "-id"]
        indexes = [
            models.Index(fields=["zalo_channel", "msg_id"], name="zalo_message_msg_id"),
            models.Index(fields=["zalo_channel", "tracking_id"], name="zalo_message_tracking_id"),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_id} ({self.state})"


def clear_auth_flags(channels, *, now: dt.datetime, actor) -> int:
    """Staff reconnected the channels (a fresh refresh token): they are tried again, each with a history entry."""
    return line_models.clear_auth_flags(
        channels, now=now, actor=actor, was="refresh refused", reason="the OA was reconnected", auth_error=""
    )
