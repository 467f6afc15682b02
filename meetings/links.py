"""The links we send: signed, per appointment, so a student opens them from LINE without logging in.

The join link does not carry the video credentials themselves: it leads to ``/j/<token>/``, which checks the join
window at that second and only then hands out (or redirects to) credentials valid for that person's window.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

JOIN_SALT = "classroom.join-link"
FEEDBACK_SALT = "classroom.feedback-link"


def _sign(value: int, salt: str) -> str:
    return signing.dumps(value, salt=salt, compress=True)


def read(token: str, salt: str) -> int | None:
    try:
        value = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def join_url(appointment_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("join-link", args=[_sign(appointment_id, JOIN_SALT)])


def feedback_url(appointment_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("feedback-link", args=[_sign(appointment_id, FEEDBACK_SALT)])
