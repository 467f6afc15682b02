"""People and catalogue: teachers, students and courses."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import phones
from core.models import choice_check
from core.money import CURRENCY_CHOICES, CURRENCY_PLACES
from core.timezones import validate_time_zone

CHANNEL_NAMES = ("zalo", "line", "email")


def validate_channel_order(value: str) -> None:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in CHANNEL_NAMES]
    if unknown or len(set(names)) != len(names):
        raise ValidationError(
            _("%(value)s is not an order of channels: name each of %(names)s at most once, comma separated."),
            code="invalid_channel_order",
            params={"value": value, "names": ", ".join(CHANNEL_NAMES)},
        )


def default_time_zone() -> str:
    return settings.DEFAULT_USER_TIME_ZONE


class Person(models.Model):
    display_name = models.CharField(max_length=120, verbose_name=_("display name"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text=_("IANA zone used to show and enter times, e.g. Asia/Ho_Chi_Minh. Stored times are always UTC."),
        verbose_name=_("time zone"),
    )
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en", verbose_name=_("language"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.display_name


class Teacher(Person):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="teacher", verbose_name=_("user")
    )
    commission_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text=_("Platform commission for this teacher (0.175 = 17.5%). Empty: the policy's commission."),
        verbose_name=_("commission rate"),
    )

    class Meta:
        verbose_name = _("teacher")
        verbose_name_plural = _("teachers")
        ordering = ["display_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(commission_rate__isnull=True) | Q(commission_rate__gte=0, commission_rate__lte=1),
                name="teacher_commission_rate_0_to_1",
                violation_error_message=_("The commission rate must be between 0 and 1."),
            ),
        ]

    def commission_rate_under(self, rules) -> Decimal:
        """The teacher's own rate, else the policy version's (``classroom.policies.Rules``)."""
        return self.commission_rate if self.commission_rate is not None else rules.commission_rate


class Student(Person):
    """A person who books: with a login, or created by staff. How they are reached on LINE is their contacts
    (``integrations.LineContact``, ``student.line_contacts``): their own and their guardians'."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="student",
        verbose_name=_("user"),
    )

    # Zalo (ZNS) sends to a phone number: stored in E.164, normalised on save (core.phones).
    phone = models.CharField(
        max_length=20,
        blank=True,
        help_text=_("With its country code, e.g. +84 912 345 678; stored as +84912345678."),
        verbose_name=_("phone"),
    )
    # ZNS needs the person's consent: recorded explicitly, with when and how it was given.
    zalo_consent = models.BooleanField(
        default=False, help_text=_("The student agreed to get notices on Zalo."), verbose_name=_("Zalo consent")
    )
    zalo_consent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("Zalo consent at"))
    zalo_consent_source = models.CharField(
        max_length=120,
        blank=True,
        help_text=_("How consent was given, e.g. 'signed enrolment form' or 'booking page checkbox'."),
        verbose_name=_("Zalo consent source"),
    )
    # The channels to try, in order ("zalo,line,email"); empty: the school's default for the person's country.
    channel_order = models.CharField(
        max_length=60,
        blank=True,
        validators=[validate_channel_order],
        help_text=_("e.g. zalo,line,email (the first reachable is used). Empty: the school default."),
        verbose_name=_("channel order"),
    )

    class Meta:
        verbose_name = _("student")
        verbose_name_plural = _("students")
        ordering = ["display_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(zalo_consent=False) | Q(zalo_consent_at__isnull=False),
                name="student_zalo_consent_has_a_time",
                violation_error_message=_("Zalo consent needs the time it was given."),
            ),
        ]

    def save(self, *args, **kwargs):
        self.phone = phones.normalise(self.phone)  # one stored form, whoever writes the row
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        try:
            self.phone = phones.normalise(self.phone)
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from None
        if self.zalo_consent and not self.zalo_consent_source:
            raise ValidationError({"zalo_consent_source": _("Say how the student gave Zalo consent.")})
        if self.zalo_consent and self.zalo_consent_at is None:
            self.zalo_consent_at = timezone.now()  # ticked by staff now: consent recorded now


class Course(models.Model):
    title = models.CharField(max_length=200, verbose_name=_("title"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))], verbose_name=_("price")
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD", verbose_name=_("currency"))
    capacity = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)], verbose_name=_("capacity"))
    min_participants = models.PositiveIntegerField(
        default=0,
        help_text=_("A class with fewer confirmed bookings at the check time is cancelled and refunded."),
        verbose_name=_("min participants"),
    )
    default_duration_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)], verbose_name=_("default duration minutes")
    )
    record_classes = models.BooleanField(
        default=False,
        help_text=_(
            "Record this course's classes for replay (when recordings are on and the video provider can record)."
        ),
        verbose_name=_("record classes"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("course")
        verbose_name_plural = _("courses")
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0),
                name="course_price_not_negative",
                violation_error_message=_("The price cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1),
                name="course_capacity_at_least_1",
                violation_error_message=_("A course needs room for at least one student."),
            ),
            models.CheckConstraint(
                condition=Q(min_participants__lte=F("capacity")),
                name="course_min_participants_within_capacity",
                violation_error_message=_("The minimum number of participants cannot exceed the capacity."),
            ),
            choice_check("currency", CURRENCY_PLACES, name="course_currency_known", message=_("Unknown currency.")),
        ]

    def __str__(self) -> str:
        return self.title


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key`` header, replayed when the same client sends the same
    request with the same key again (a retry after a timeout must not book twice). See ``classroom.idempotency``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(max_length=255, verbose_name=_("key"))
    endpoint = models.CharField(
        max_length=200, help_text=_("The method and route, e.g. 'POST bookings-list'."), verbose_name=_("endpoint")
    )
    fingerprint = models.CharField(
        max_length=64, help_text=_("SHA-256 of the method, path and JSON body."), verbose_name=_("fingerprint")
    )
    response_status = models.PositiveSmallIntegerField(verbose_name=_("response status"))
    # The rendered JSON as text, not a JSONField: PostgreSQL's jsonb would reorder the keys of the replayed answer.
    response_body = models.TextField(blank=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            # Also what makes a twin request wait: its INSERT blocks on this index until the first one commits.
            models.UniqueConstraint(fields=["user", "endpoint", "key"], name="idempotency_key_once_per_user_endpoint"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_key_expiry")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class ApiToken(models.Model):
    """An API login (``POST /api/v1/auth/token/``), valid until ``expires_at`` or until it is revoked.

    Only the SHA-256 digest of the token is stored (the token is 160 random bits, so a fast hash is enough): a copy of
    the database, a backup or the admin cannot be used to log in. The token itself is shown once, in the login
    response. See classroom.tokens.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    digest = models.CharField(max_length=64, unique=True, editable=False, verbose_name=_("digest"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))

    class Meta:
        verbose_name = _("api token")
        verbose_name_plural = _("api tokens")
        indexes = [models.Index(fields=["expires_at"], name="api_token_expiry")]

    def __str__(self) -> str:
        return f"API token of {self.user} (until {self.expires_at:%Y-%m-%d %H:%M} UTC)"


def cited_policy(**options) -> models.ForeignKey:
    """The column of a row that cites the policy version which decided it (a class, a booking, a payout): never
    edited by hand, never cascading (a version is never deleted while something cites it)."""
    return models.ForeignKey(
        "classroom.Policy",
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("policy"),
        **options,
    )


class Policy(models.Model):
    """One version of the class windows and money rules (``classroom.policies`` names them, reads and validates them).

    Never edited in place: staff make a new version from the current one (the admin, ``manage.py policy set``), so
    every class, payout, refund and late-cancel charge can cite the version that decided it (``policy`` on each).
    A version with no ``course`` is the school's; one with a ``course`` is that course's override: it holds the
    school's values of ``based_on`` with the keys listed in ``overrides`` replaced, so a citation is one row that says
    every value that applied.
    """

    course = models.ForeignKey(
        Course,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policy_versions",
        editable=False,
        verbose_name=_("course"),
    )
    based_on = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        help_text=_("A course override: the school's version its other values come from."),
        verbose_name=_("based on"),
    )
    values = models.JSONField(encoder=DjangoJSONEncoder, editable=False, verbose_name=_("values"))
    overrides = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text=_("A course override's own keys."),
        verbose_name=_("overrides"),
    )
    effective_from = models.DateTimeField(
        editable=False, help_text=_("UTC; the version applies from then on."), verbose_name=_("effective from")
    )
    created_at = models.DateTimeField(editable=False, verbose_name=_("created at"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("author"),
    )
    author_name = models.CharField(max_length=150, editable=False, verbose_name=_("author name"))
    note = models.TextField(editable=False, verbose_name=_("note"))

    class Meta:
        ordering = ["-effective_from", "-id"]
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        indexes = [models.Index(fields=["course", "effective_from"], name="policy_course_effective")]

    def __str__(self) -> str:
        scope = f" for {self.course}" if self.course_id else ""
        return f"policy v{self.pk}{scope} from {self.effective_from:%Y-%m-%d %H:%M} UTC"

    def save(self, *args, **kwargs):
        # A version is cited by payouts and refunds: changing it would change why they were decided.
        if self.pk is not None and not self._state.adding:
            raise ValueError("a policy version is never edited in place; make a new version")
        super().save(*args, **kwargs)
