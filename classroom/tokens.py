"""API tokens: issued at each login, stored as a digest only, refused once expired or revoked.

``Authorization: Token <token>`` as with DRF's authtoken before; what changed: every login gets a new token (a
phone and a laptop each have their own, and logging out of one keeps the other), each expires after
API_TOKEN_TTL_HOURS, and the database keeps only its digest (classroom.models.ApiToken).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from collections import Counter

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext

from classroom.models import ApiToken, Student, Teacher
from core.rows import Columns, fetch_one
from core.sweeping import delete_expired

TOKEN_BYTES = 20  # 40 hex characters: the shape apps stored before


class TokenRefused(Exception):
    """The token given is unknown, revoked or expired; the message says which, for the person logging in."""


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user, *, now: dt.datetime) -> tuple[ApiToken, str]:
    """A new token for ``user``, valid for API_TOKEN_TTL_HOURS from ``now``: the stored row and the token itself,
    which exists nowhere else. Their expired tokens are forgotten meanwhile."""
    token = secrets.token_hex(TOKEN_BYTES)
    with transaction.atomic():
        ApiToken.objects.filter(user=user, expires_at__lte=now).delete()
        record = ApiToken.objects.create(
            user=user,
            digest=digest_of(token),
            created_at=now,
            expires_at=now + dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS),
        )
    return record, token


@functools.cache
def _token_columns() -> tuple[Columns, Columns, Columns, Columns]:
    # (built on first use: the user model is known once the apps are loaded)
    return tuple(
        Columns(model, {field.attname for field in model._meta.concrete_fields})
        for model in (ApiToken, get_user_model(), Teacher, Student)
    )


def _read(digest: str) -> ApiToken | None:
    """The token row with its user and the user's teacher and student records (or None), as
    ``select_related("user", "user__teacher", "user__student")`` reads them, by one hand-written statement: every
    API request asks for it, and compiling the ORM's query was a fifth of a meeting list's time (issue 22)."""
    token, user, teacher, student = _token_columns()
    sql = (
        f"SELECT {token.sql('k')}, {user.sql('u')}, {teacher.sql('t')}, {student.sql('s')} FROM {token.table} k "
        f"JOIN {user.table} u ON u.id = k.user_id LEFT JOIN {teacher.table} t ON t.user_id = u.id "
        f"LEFT JOIN {student.table} s ON s.user_id = u.id WHERE k.digest = %s"
    )
    read = fetch_one(sql, [digest], [token, user, teacher, student])
    if read is None:
        return None
    (record, account, *people), _ = read
    record.user = account
    for person, reverse in zip(people, (type(account).teacher, type(account).student), strict=True):
        reverse.related.set_cached_value(account, person)  # account.teacher: this one, or "none" without a query
        if person is not None:
            person.user = account
    return record


def authenticate(token: str, *, now: dt.datetime) -> ApiToken:
    """The live token row for ``token`` (with its user, and the user's teacher and student records, which every API
    request asks for: one query instead of three); raises :class:`TokenRefused` otherwise."""
    record = _read(digest_of(token))
    if record is None:
        raise TokenRefused(gettext("Invalid token."))
    if record.expires_at <= now:
        record.delete()
        raise TokenRefused(gettext("The token has expired; log in again for a new one."))
    if not record.user.is_active:
        raise TokenRefused(gettext("User inactive or deleted."))
    return record


def log_out(user, token: ApiToken | None) -> int:
    """Revoke the token the request came with; a session (no token) revokes every token of ``user``."""
    tokens = ApiToken.objects.filter(user=user)
    if token is not None:
        tokens = tokens.filter(pk=token.pk)
    deleted, _ = tokens.delete()
    return deleted


def expire_api_tokens(now: dt.datetime) -> Counter:
    """Sweep (maintenance pass): forget tokens whose time is up, in bounded batches (index ``api_token_expiry``).
    An expired token is refused anyway; this keeps tokens nobody uses again from piling up."""
    return delete_expired(ApiToken, now)
