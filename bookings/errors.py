from core.errors import DomainError


class ClassFull(DomainError):
    code = "class_full"


class AlreadyBooked(DomainError):
    code = "already_booked"


class BookingClosed(DomainError):
    code = "booking_closed"


class OwnClass(DomainError):
    """A teacher who is also a student asked for a seat in a class they teach (they would pay themselves)."""

    code = "own_class"


class CancellationTooLate(DomainError):
    code = "cancellation_too_late"


class InvalidDecision(DomainError):
    """A review decision or complaint that cannot be applied as given (no note, a percentage out of range)."""

    code = "invalid_decision"
