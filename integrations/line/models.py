import datetime as dt

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import audit


def default_guardian_kinds() -> list[str]:
    """A guardian gets the join link unless they (or staff) choose more."""
    return ["join_link"]


class MessagingChannel(models.Model):
    """What a messaging service's account (a LINE channel, a Zalo OA) has in the admin: a name, a slug naming its
    webhook URL, an on/off switch, and the flag set when the service refused its credentials (shown until staff fix
    them; :func:`clear_auth_flags`)."""

    name = models.CharField(max_length=120, verbose_name=_("name"))
    slug = models.SlugField(unique=True, verbose_name=_("slug"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    auth_failed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("auth failed at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        abstract = True
        app_label = "integrations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LineChannel(MessagingChannel):
    """One LINE Official Account. Each has its own webhook URL (/integrations/line/webhook/<slug>/) so the right
    secret is known before the body is parsed. ``auth_failed_at`` is set when LINE answered 401: the token is wrong
    or revoked."""

    channel_id = models.CharField(max_length=64, verbose_name=_("channel id"))
    channel_secret = models.CharField(max_length=128, verbose_name=_("channel secret"))
    access_token = models.TextField(verbose_name=_("access token"))

    class Meta(MessagingChannel.Meta):
        verbose_name = _("line channel")
        verbose_name_plural = _("line channels")


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


def clear_auth_flags(
    channels, *, now: dt.datetime, actor, was: str = "token refused", reason: str = "the token was fixed", **also
) -> int:
    """Staff fixed the channels' credentials (LINE's or Zalo's; ``channels`` is a queryset of either): they are tried
    again (the flag set when the service refused them is cleared, with the columns in ``also``), each with a history
    entry naming who did it. Returns how many were flagged."""
    model = channels.model
    with transaction.atomic():
        flagged = list(channels.filter(auth_failed_at__isnull=False).values_list("pk", flat=True))
        model.objects.filter(pk__in=flagged).update(auth_failed_at=None, **also)
        audit.record(
            model,
            [(pk, was, None) for pk in flagged],
            to_state="cleared",
            at=now,
            actor=actor,
            field="auth_failed_at",
            reason=reason,
        )
    return len(flagged)


class LineContact(models.Model):
    """One LINE user of one channel (a follower), linked to at most one student at a time, as the student
    themselves or as one of their guardians.

    A follow creates or reactivates a contact and never a student: a booking belongs to a student, and a follow,
    an unfollow or an unlink changes only who can be reached, never whose booking it is. Linking goes through
    ``integrations.line.linking.link_contact`` (LINE's account link, a binding code, or staff in the admin)."""

    class Role(models.TextChoices):
        STUDENT = "student", _("student")
        GUARDIAN = "guardian", _("guardian")

    line_channel = models.ForeignKey(
        LineChannel, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("line channel")
    )
    line_user_id = models.CharField(max_length=64, verbose_name=_("line user id"))
    following = models.BooleanField(
        default=True, help_text=_("False after the user blocked the LINE account."), verbose_name=_("following")
    )
    # Timestamp of the newest follow/unfollow event applied: an older event arriving late must not undo it.
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("status changed at"))
    display_name = models.CharField(max_length=120, blank=True, verbose_name=_("display name"))
    # PROTECT: a student with linked contacts is deleted only after they are unlinked (a SET_NULL would leave a
    # half-linked row, which the check below refuses).
    student = models.ForeignKey(
        "classroom.Student",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="line_contacts",
        editable=False,
        verbose_name=_("student"),
    )
    role = models.CharField(max_length=16, choices=Role.choices, blank=True, editable=False, verbose_name=_("role"))
    linked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("linked at"))
    unlinked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("unlinked at"))
    # The message kinds a guardian receives about their student (a student's own contact receives every kind).
    guardian_kinds = models.JSONField(default=default_guardian_kinds, blank=True, verbose_name=_("guardian kinds"))
    # Wrong binding codes sent by this contact in the hour from ``code_failures_since`` (at most CODE_TRIES_PER_HOUR).
    code_failures = models.PositiveSmallIntegerField(default=0, editable=False, verbose_name=_("code failures"))
    code_failures_since = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("code failures since")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("line contact")
        verbose_name_plural = _("line contacts")
        app_label = "integrations"
        ordering = ["line_channel", "-linked_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["line_channel", "line_user_id"], name="line_contact_once_per_channel"),
            # Linked means a student, a role and a moment, all three; unlinked means none (no half-linked row).
            models.CheckConstraint(
                condition=(Q(student__isnull=False) & Q(linked_at__isnull=False) & ~Q(role=""))
                | (Q(student__isnull=True) & Q(linked_at__isnull=True) & Q(role="")),
                name="line_contact_linked_whole",
                violation_error_message=_(
                    "A linked contact has a student, a role and a link time; an unlinked one none."
                ),
            ),
        ]
        indexes = [models.Index(fields=["student"], name="line_contact_student")]

    def __str__(self) -> str:
        return self.display_name or self.line_user_id

    @property
    def linked(self) -> bool:
        return self.student_id is not None

    @property
    def reachable(self) -> bool:
        return self.linked and self.following


class SingleUseLink(models.Model):
    """What a nonce and a code share: a secret kept only as its digest, naming the student (and role) a contact will
    be linked to on one channel, valid until ``expires_at``, used once (``used_at``, set by compare-and-set)."""

    digest = models.CharField(max_length=64, unique=True, verbose_name=_("digest"))
    line_channel = models.ForeignKey(
        LineChannel, on_delete=models.CASCADE, related_name="+", verbose_name=_("line channel")
    )
    student = models.ForeignKey(
        "classroom.Student", on_delete=models.CASCADE, related_name="+", verbose_name=_("student")
    )
    role = models.CharField(max_length=16, choices=LineContact.Role.choices, verbose_name=_("role"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("used at"))

    class Meta:
        abstract = True


class LineLinkNonce(SingleUseLink):
    """The nonce of one LINE account link (after a login on our page): it names who is linking, and the
    ``accountLink`` event that brings it back links that contact to them. Single use (``used_at``, set by
    compare-and-set), valid for NONCE_TTL; the nonce itself is stored as its SHA-256 digest."""

    class Meta:
        verbose_name = _("line link nonce")
        verbose_name_plural = _("line link nonces")
        app_label = "integrations"
        indexes = [models.Index(fields=["expires_at"], name="line_link_nonce_expiry")]

    def __str__(self) -> str:
        return f"account link nonce for {self.student_id} ({self.role})"


class LineLinkCode(SingleUseLink):
    """A binding code: a student (or staff for them) asks for it, a contact sends it in the chat and is linked.
    Stored as a keyed hash (HMAC with SECRET_KEY: a code is short, so a plain hash of a copied table could be
    reversed by trying them all); single use; valid for CODE_TTL; for one channel."""

    used_by = models.ForeignKey(
        LineContact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("used by")
    )
    created_by = models.CharField(
        max_length=150,
        blank=True,
        help_text=_("Who asked for it (the student, or staff)."),
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("line link code")
        verbose_name_plural = _("line link codes")
        app_label = "integrations"
        indexes = [models.Index(fields=["expires_at"], name="line_link_code_expiry")]

    def __str__(self) -> str:
        return f"LINE code for {self.student_id} ({self.role})"
