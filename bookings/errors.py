from core.errors import DomainError


class ClassFull(DomainError, code="class_full"):
    """Every seat of the class is taken."""


class AlreadyBooked(DomainError, code="already_booked"):
    """The student already holds a seat in this class."""


class BookingClosed(DomainError, code="booking_closed"):
    """The class is closed or cancelled, or can no longer be joined (the late-join grace is over)."""


class OwnClass(DomainError, code="own_class"):
    """A teacher who is also a student asked for a seat in a class they teach (they would pay themselves)."""


class CancellationTooLate(DomainError, code="cancellation_too_late"):
    """The booking's cancellation cutoff has passed (the message gives it in the student's zone)."""


class InvalidDecision(DomainError, code="invalid_decision"):
    """A review decision or complaint that cannot be applied as given (no note, a percentage out of range)."""
