"""Domain errors: raised by transitions and services, turned into messages by the admin, API and commands."""


class DomainError(Exception):
    """A rule of the domain refused the operation. ``code`` is stable, for machines; the message is for people."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class IllegalTransition(DomainError):
    code = "illegal_transition"


class NotFound(DomainError):
    code = "not_found"


class InvalidTime(DomainError):
    """A time a person gave us cannot be used: naive, in a daylight-saving gap, in the past, end before start."""

    code = "invalid_time"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field
