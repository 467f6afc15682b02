"""A student's seat and its money (Booking), its messaging timeline (Appointment), the teacher's pay (Payout)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from classroom.models import cited_policy
from core.models import StateGuardMixin, choice_check
from core.money import CURRENCY_CHOICES


class BookingStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CONFIRMED = "confirmed", _("Confirmed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")
    # The student cancelled after the cutoff: charged the late-cancel percentage, the seat released.
    LATE_CANCELLED = "late_cancelled", _("late cancel (charged)")
    # The teacher held the class and the student never joined: charged in full, not refunded.
    NO_SHOW = "no_show", _("student no-show")


class PayoutState(models.TextChoices):
    PENDING = "pending", _("pending (dispute window)")
    HELD = "held", _("held for review")
    APPROVED = "approved", _("Approved")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


class Booking(StateGuardMixin, models.Model):
    state_field = "status"
    Status = BookingStatus

    # A booking in one of these holds a seat, and a student may have only one of them per meeting.
    SEAT_HOLDING = (Status.PENDING, Status.CONFIRMED, Status.COMPLETED)
    # The student may cancel a booking in one of these (before its cutoff); a confirmed one is refunded.
    CANCELLABLE = (Status.PENDING, Status.CONFIRMED)
    # The student paid for a booking in one of these: a refund gives the money back.
    PAID = (Status.CONFIRMED, Status.COMPLETED)
    # The student was charged although they did not take part; staff may excuse it (a full refund).
    CHARGED_ABSENT = (Status.LATE_CANCELLED, Status.NO_SHOW)

    student = models.ForeignKey(
        "classroom.Student", on_delete=models.PROTECT, related_name="bookings", verbose_name=_("student")
    )
    meeting = models.ForeignKey(
        "meetings.Meeting", on_delete=models.PROTECT, related_name="bookings", verbose_name=_("meeting")
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, editable=False, verbose_name=_("status")
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("amount"))
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, verbose_name=_("currency"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("confirmed at"))
    completed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("completed at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("cancelled at"))
    refunded_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("refunded at"))
    # A late cancel or a no-show: what the student was charged (the rest of ``amount`` is refunded), rounded once.
    charged_amount = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, editable=False, verbose_name=_("charged amount")
    )
    # The policy version that decided the booking's money (its refund, late-cancel charge or no-show).
    policy = cited_policy(blank=True)
    # A student's complaint holds the teacher's payout before its dispute window ends.
    has_complaint = models.BooleanField(default=False, verbose_name=_("has complaint"))
    complaint_note = models.TextField(blank=True, verbose_name=_("complaint note"))
    # What the student said through the feedback link.
    feedback_rating = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, verbose_name=_("feedback rating")
    )
    feedback_comment = models.TextField(blank=True, editable=False, verbose_name=_("feedback comment"))
    feedback_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("feedback at"))

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["meeting", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "meeting"],
                condition=Q(status__in=["pending", "confirmed", "completed"]),
                name="booking_one_active_per_student_meeting",
                violation_error_message=_("This student already has a seat in this class."),
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="booking_amount_not_negative",
                violation_error_message=_("The amount cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(feedback_rating__isnull=True) | Q(feedback_rating__gte=1, feedback_rating__lte=5),
                name="booking_feedback_rating_1_to_5",
                violation_error_message=_("A rating is from 1 to 5."),
            ),
            choice_check(
                "status", BookingStatus.values, name="booking_status_valid", message=_("Unknown booking status.")
            ),
        ]
        indexes = [models.Index(fields=["meeting", "status"], name="booking_meeting_status")]
        permissions = [("refund_booking", "Can refund a booking")]

    def __str__(self) -> str:
        return f"{self.student} in {self.meeting.title}"


class Appointment(models.Model):
    """A booked student's messaging timeline: the join link and the feedback link, each sent once or skipped.

    Each link is its own small machine, ``pending -> sent | skipped``, so a join link skipped after downtime does not
    stop the feedback link. ``*_due_at`` is derived from the meeting's times when the booking is confirmed (and again
    when a meeting is rescheduled, which also makes a link already sent due again: ``link_round``); with the partial
    indexes below "which links are due" reads only due rows.
    """

    class LinkState(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")

    booking = models.OneToOneField(
        Booking, on_delete=models.CASCADE, related_name="appointment", verbose_name=_("booking")
    )
    meeting = models.ForeignKey(
        "meetings.Meeting", on_delete=models.CASCADE, related_name="appointments", verbose_name=_("meeting")
    )
    student = models.ForeignKey(
        "classroom.Student", on_delete=models.PROTECT, related_name="appointments", verbose_name=_("student")
    )
    join_link_state = models.CharField(
        max_length=16,
        choices=LinkState.choices,
        default=LinkState.PENDING,
        editable=False,
        verbose_name=_("join link state"),
    )
    join_link_due_at = models.DateTimeField(editable=False, verbose_name=_("join link due at"))
    join_link_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("When it was sent or skipped"),
        verbose_name=_("join link at"),
    )
    join_link_note = models.CharField(max_length=200, blank=True, editable=False, verbose_name=_("join link note"))
    feedback_link_state = models.CharField(
        max_length=16,
        choices=LinkState.choices,
        default=LinkState.PENDING,
        editable=False,
        verbose_name=_("feedback link state"),
    )
    feedback_link_due_at = models.DateTimeField(editable=False, verbose_name=_("feedback link due at"))
    feedback_link_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("feedback link at"))
    feedback_link_note = models.CharField(
        max_length=200, blank=True, editable=False, verbose_name=_("feedback link note")
    )
    # A link that failed to go out backs off here, on its own appointment: the meeting's sweeps (room, close,
    # settlement) never wait for one student's link. ``link_last_error`` starts with the step ("join link: ..."),
    # so one link waiting out its backoff does not hold back the other.
    link_retry_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("link retry at"))
    link_failure_count = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("link failure count"))
    link_last_error = models.TextField(blank=True, editable=False, verbose_name=_("link last error"))
    # How many times a move of the class made a link already sent (or skipped for the old times) due again. It is
    # in the links' outbox key, so each round's link is a new message while two sweeps of one round still write one.
    link_round = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("link round"))

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["meeting", "id"]
        indexes = [
            models.Index(
                fields=["join_link_due_at"], condition=Q(join_link_state="pending"), name="appointment_due_join"
            ),
            models.Index(
                fields=["feedback_link_due_at"],
                condition=Q(feedback_link_state="pending"),
                name="appointment_due_feedback",
            ),
        ]

    def __str__(self) -> str:
        return f"appointment of booking {self.booking_id}"


class Payout(StateGuardMixin, models.Model):
    """What the teacher earns for one meeting. Amounts are rounded once, by ``core.money.round_money``."""

    State = PayoutState

    teacher = models.ForeignKey(
        "classroom.Teacher", on_delete=models.PROTECT, related_name="payouts", verbose_name=_("teacher")
    )
    meeting = models.OneToOneField(
        "meetings.Meeting", on_delete=models.PROTECT, related_name="payout", verbose_name=_("meeting")
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, verbose_name=_("currency"))
    gross = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("gross"))
    commission_rate = models.DecimalField(max_digits=5, decimal_places=4, verbose_name=_("commission rate"))
    commission = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("commission"))
    net = models.DecimalField(max_digits=12, decimal_places=2, verbose_name=_("net"))
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING, editable=False, verbose_name=_("state")
    )
    approve_after = models.DateTimeField(
        null=True, blank=True, editable=False, help_text=_("End of the dispute window"), verbose_name=_("approve after")
    )
    approved_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("approved at"))
    paid_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("paid at"))
    held_reason = models.CharField(max_length=200, blank=True, editable=False, verbose_name=_("held reason"))
    # The policy version that decided it (commission, dispute window, absent students' share): the class's.
    policy = cited_policy(blank=True)
    excused_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, verbose_name=_("excused percent")
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        verbose_name=_("reviewed by"),
    )
    review_note = models.TextField(blank=True, editable=False, verbose_name=_("review note"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["-created_at"]
        constraints = [
            # one payout per meeting is the OneToOneField's unique index
            models.CheckConstraint(
                condition=Q(gross__gte=0, commission__gte=0, net__gte=0),
                name="payout_money_not_negative",
                violation_error_message=_("Payout amounts cannot be negative."),
            ),
            # Within half a minor unit rather than equal: SQLite computes decimals in binary floating point.
            models.CheckConstraint(
                condition=Q(
                    net__gte=F("gross") - F("commission") - Decimal("0.001"),
                    net__lte=F("gross") - F("commission") + Decimal("0.001"),
                ),
                name="payout_net_is_gross_minus_commission",
                violation_error_message=_("Net must equal gross minus commission."),
            ),
            choice_check("state", PayoutState.values, name="payout_state_valid", message=_("Unknown payout state.")),
        ]
        indexes = [
            models.Index(fields=["approve_after"], condition=Q(state="pending"), name="payout_due_approve"),
            models.Index(fields=["teacher", "state"], name="payout_teacher_state"),
        ]
        # Each money step its own: who approves is not necessarily who pays (the admin checks them).
        permissions = [
            ("approve_payout", "Can approve a payout"),
            ("pay_payout", "Can mark a payout paid"),
            ("hold_payout", "Can hold a payout for review"),
        ]

    def __str__(self) -> str:
        return f"{self.net} {self.currency} to {self.teacher} for meeting {self.meeting_id}"


class PayoutAdjustment(models.Model):
    """A change to what the teacher is owed for a payout after it was approved (or paid): today the share of a booking
    refunded since, taken back (negative). The payout's own amounts stay as approved; the teacher is owed its net
    plus its adjustments. One per payout and booking, so a replayed refund records one. Written only by
    ``bookings.transitions`` (a ledger: never edited)."""

    payout = models.ForeignKey(
        Payout, on_delete=models.PROTECT, related_name="adjustments", editable=False, verbose_name=_("payout")
    )
    booking = models.ForeignKey(
        Booking, on_delete=models.PROTECT, related_name="payout_adjustments", editable=False, verbose_name=_("booking")
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, editable=False, verbose_name=_("amount"))
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, editable=False, verbose_name=_("currency"))
    reason = models.TextField(editable=False, verbose_name=_("reason"))
    created_at = models.DateTimeField(
        editable=False, help_text=_("UTC, the `now` of the refund"), verbose_name=_("created at")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        verbose_name=_("actor"),
    )
    actor_name = models.CharField(
        max_length=150, editable=False, help_text=_("'system' or the staff user's name"), verbose_name=_("actor name")
    )

    class Meta:
        verbose_name = _("payout adjustment")
        verbose_name_plural = _("payout adjustments")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["payout", "booking"],
                name="payout_adjustment_one_per_booking",
                violation_error_message=_("This booking already adjusted this payout."),
            ),
            models.CheckConstraint(
                condition=Q(amount__lte=0),
                name="payout_adjustment_takes_back",
                violation_error_message=_("An adjustment takes money back: its amount is negative."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on payout {self.payout_id} (booking {self.booking_id})"
