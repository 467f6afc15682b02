from classroom.errors import DomainError


class ClassFull(DomainError):
    code = "class_full"


class AlreadyBooked(DomainError):
    code = "already_booked"


class BookingClosed(DomainError):
    code = "booking_closed"


class CancellationTooLate(DomainError):
    code = "cancellation_too_late"


class InvalidDecision(DomainError):
    """A review decision or complaint that cannot be applied as given (no note, a percentage out of range)."""

    code = "invalid_decision"
