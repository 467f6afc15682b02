"""Domain errors: raised by transitions and services, turned into messages by the admin, API and commands.

Each class says how the API answers it: ``code`` (stable, for machines), ``http_status``, and what the error body and
headers carry besides the message (``fields``, ``extra``, ``headers``). ``config.api`` reads these attributes, so a
new error needs no change there. A subclass gives its code and status in its class line:
``class ClassFull(DomainError, code="class_full")`` (the status is the parent's unless given).
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the operation. ``code`` is stable, for machines; the message is for people."""

    code = "domain_error"
    # A state or capacity conflict, unless the class says otherwise.
    http_status = 409

    def __init_subclass__(cls, *, code: str | None = None, http_status: int | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if http_status is not None:
            cls.http_status = http_status

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return str(self.message)

    @property
    def fields(self) -> dict[str, list[str]]:
        """Request field -> what is wrong with it, for the API's error body."""
        return {}

    @property
    def extra(self) -> dict:
        """More keys for the API's error body (``opens_at``)."""
        return {}

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers of the API's answer (``Retry-After``)."""
        return {}


class IllegalTransition(DomainError, code="illegal_transition"):
    """Not allowed in the object's current state: closing a cancelled meeting, editing an open one, feedback twice."""


class NotFound(DomainError, code="not_found", http_status=404):
    """The object the operation names does not exist (any more)."""


class InvalidTime(DomainError, code="invalid_time", http_status=400):
    """A time a person gave us cannot be used: naive, in a daylight-saving gap, in the past, end before start."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field

    @property
    def fields(self) -> dict[str, list[str]]:
        return {self.field: [self.message]} if self.field else {}
