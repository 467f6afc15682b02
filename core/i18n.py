"""Reasons told to people, translated when a message is rendered in its reader's language (README, "Languages").

A reason is made where the decision is (a sweep cancels a class, a teacher cancels it through the API), but read by
each recipient in their own language, possibly much later. So it is kept as its English msgid and parameters, and
translated only when rendered, inside ``translation.override(<the recipient's language>)``: "已取消：因老師未出席。",
never "已取消：cancelled by Lin Mei。". Text a person typed (a staff member's reason) is a plain ``str`` and stays
as typed; only the words around it are translated (the message template).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext


class Reason:
    """``msgid % params``, translated in the active language by ``str()``; :meth:`source` is the English text (for
    the history, which is written once for every reader). Hashable: rendered messages are cached on their inputs.

    Mark the msgid with ``gettext_noop`` where the reason is made, so ``make messages`` finds it."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params):
        self.msgid = msgid
        self.params = tuple(sorted(params.items()))

    def _format(self, text: str) -> str:
        return text % dict(self.params) if self.params else text

    def __str__(self) -> str:
        return self._format(gettext(self.msgid))

    def source(self) -> str:
        return self._format(self.msgid)

    def __eq__(self, other) -> bool:
        return isinstance(other, Reason) and (self.msgid, self.params) == (other.msgid, other.params)

    def __hash__(self) -> int:
        return hash((self.msgid, self.params))

    def __repr__(self) -> str:
        return f"Reason({self.source()!r})"


def source_text(reason: str | Reason) -> str:
    """The reason as written to the history: the English text of a :class:`Reason`, a typed reason as typed."""
    return reason.source() if isinstance(reason, Reason) else reason


class PersonLanguageMiddleware:
    """The admin in its user's own language: a staff member who is also a teacher or student sees the admin in that
    record's language, unless they picked one with the admin's language chooser (its cookie wins). Everyone else
    keeps LocaleMiddleware's choice (the chooser's cookie, else the browser's Accept-Language). Only admin pages:
    an API client says what it wants with Accept-Language on every request.

    After AuthenticationMiddleware (it reads ``request.user``); LocaleMiddleware still sets Content-Language and
    Vary on the way out from the active language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.path.startswith("/admin/")
            and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES
            and request.user.is_authenticated
        ):
            # The records by their reverse accessors (core imports no app): a teacher's first, as for time zones.
            person = getattr(request.user, "teacher", None) or getattr(request.user, "student", None)
            if person is not None and person.language:
                translation.activate(person.language)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
