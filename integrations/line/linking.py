"""Linking LINE contacts to students: the one place where a contact gets or loses its student.

Three ways in, one function (:func:`link_contact`) at the end of each:

* **LINE's account link** (LINE docs "Linking user accounts"): the contact sends "link"; we ask LINE for a link token
  and reply with a button to our page (``/integrations/line/link/<slug>/?linkToken=...``); after a login there,
  :func:`start_account_link` makes a nonce (unpredictable, 43 characters, single use, NONCE_TTL) and sends the browser
  to LINE's dialog; LINE checks that the person owns the LINE account and sends the ``accountLink`` event with the
  nonce, which :func:`complete_account_link` turns into a link to the person who logged in. We never trust a LINE
  user id a page sends us: only LINE's signed event names the contact.
* **A binding code** (:func:`issue_code`, :func:`redeem_code`): short, single use, CODE_TTL, for one channel, stored
  as a keyed hash; a contact may send at most CODE_TRIES_PER_HOUR wrong codes an hour.
* **Staff** in the admin (:func:`link_contact` with the staff user as the actor).

A contact linked to another student (or to the same one in another role) is never re-linked: :class:`LinkedElsewhere`,
unlink first. Every link and unlink writes a history row (``core.audit``) in the same transaction, and the contact
row is locked first, so two links racing for one contact link it once. The contact is locked alone and its student
read after the lock: a row joined in the locking query would be the one from before the wait (PostgreSQL re-reads
only the locked row), and a racer would see "linked" without its student.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext, gettext_lazy

from core import audit
from core.errors import DomainError, NotFound
from core.sweeping import delete_expired
from integrations.line.models import LineChannel, LineContact, LineLinkCode, LineLinkNonce

Role = LineContact.Role

NONCE_TTL = dt.timedelta(minutes=10)
CODE_TTL = dt.timedelta(hours=24)
CODE_TRIES_PER_HOUR = 5
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from paper
CODE_LENGTH = 8
# What a chat message must look like to count as a code attempt (typos count too: 8 letters or digits, dashes and
# spaces ignored).
CODE_SHAPE = re.compile(r"[A-Z0-9]{8}")
LINK_WORDS = {"link", "綁定", "连结", "連結", "liên kết", "lien ket"}
UNLINK_WORDS = {"unlink", "解除綁定", "解除連結", "hủy liên kết", "huy lien ket"}

# Outcomes (the webhook records them on the event; tests read them).
LINKED = "linked"
ALREADY_LINKED = "already linked"
LINKED_ELSEWHERE = "linked elsewhere"
WRONG_CODE = "wrong code"
THROTTLED = "throttled"
LINK_FAILED = "link failed"
UNLINKED = "unlinked"
NOT_LINKED = "not linked"
# The outcomes staff read in the admin after linking (the constants stay English: they are recorded in the history).
OUTCOME_WORDS = {LINKED: gettext_lazy("linked"), ALREADY_LINKED: gettext_lazy("already linked")}


class LinkedElsewhere(DomainError, code="line_contact_linked"):
    """The contact is linked to another student (or in another role): unlink it first."""


class ChannelRequired(DomainError, code="validation_error", http_status=400):
    def __init__(self, message: str):
        super().__init__(message)

    @property
    def fields(self):
        return {"channel": [self.message]}


class NotAStudent(DomainError, code="not_a_student", http_status=403):
    """Only an account with a student profile links LINE contacts to itself."""


@dataclass
class Answer:
    """What to reply in the chat after an event: a reply name of ``integrations.line.replies`` in a language, and
    whether it carries the account-link button (that needs a link token, asked for after the event committed)."""

    name: str
    language: str
    context: dict = field(default_factory=dict)
    link_button: bool = False


def _digest(value: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def language_of(contact: LineContact) -> str:
    return contact.student.language if contact.student_id else settings.LANGUAGE_CODE


# --- the one link, the one unlink --------------------------------------------------------------------------------


def link_contact(contact_id: int, student, *, role: str, now: dt.datetime, actor=None, how: str) -> str:
    """Link the contact to ``student`` as ``role``: LINKED, or ALREADY_LINKED when it already is exactly that.
    LinkedElsewhere when it is linked to anyone else or in another role (never re-linked silently)."""
    if role not in Role.values:
        raise DomainError(
            gettext("unknown role %(role)s; one of %(roles)s") % {"role": repr(role), "roles": ", ".join(Role.values)},
            code="validation_error",
        )
    with transaction.atomic():
        contact = LineContact.objects.select_for_update(no_key=True).get(pk=contact_id)  # its student: after
        if contact.student_id == student.pk and contact.role == role:
            return ALREADY_LINKED
        if contact.student_id is not None:
            raise LinkedElsewhere(
                gettext("This LINE contact is already linked to %(student)s as %(role)s; unlink it first.")
                % {"student": contact.student, "role": contact.get_role_display()}
            )
        LineContact.objects.filter(pk=contact.pk, student__isnull=True).update(
            student=student, role=role, linked_at=now, unlinked_at=None
        )
        audit.record(
            LineContact,
            [(contact.pk, "unlinked", None)],
            to_state=f"linked as {role}",
            at=now,
            actor=actor,
            field="student",
            reason=f"{how}: {student}",
            data={"student_id": student.pk, "role": role, "how": how, "line_channel_id": contact.line_channel_id},
        )
    return LINKED


def unlink_contact(contact_id: int, *, now: dt.datetime, actor=None, how: str) -> str:
    """Unlink the contact (LINE's terms require offering it): nothing more goes to it. UNLINKED or NOT_LINKED."""
    with transaction.atomic():
        contact = LineContact.objects.select_for_update(no_key=True).get(pk=contact_id)
        if contact.student_id is None:
            return NOT_LINKED
        LineContact.objects.filter(pk=contact.pk).update(student=None, role="", linked_at=None, unlinked_at=now)
        audit.record(
            LineContact,
            [(contact.pk, f"linked as {contact.role}", None)],
            to_state="unlinked",
            at=now,
            actor=actor,
            field="student",
            reason=how,
            data={"student_id": contact.student_id, "role": contact.role, "how": how},
        )
    return UNLINKED


def unlink_my_contact(user, contact_id: int, *, now: dt.datetime) -> str:
    """The API's DELETE: only a contact linked to the caller's student; any other is "not found" (not leaked)."""
    student = getattr(user, "student", None)
    if student is None or not LineContact.objects.filter(pk=contact_id, student=student).exists():
        raise NotFound(gettext("You have no LINE contact with this id."))
    return unlink_contact(contact_id, now=now, actor=user, how="unlinked by the student (API)")


# --- contacts from events ------------------------------------------------------------------------------------------


def contact_for(channel: LineChannel, line_user_id: str) -> LineContact:
    """The contact of a LINE user who wrote to us (one we may never have seen follow: they followed before the
    webhook was set up). Created following; a concurrent creation wins and is read back."""
    contact = LineContact.objects.filter(line_channel=channel, line_user_id=line_user_id).first()
    if contact is not None:
        return contact
    try:
        with transaction.atomic():
            return LineContact.objects.create(line_channel=channel, line_user_id=line_user_id, following=True)
    except IntegrityError:
        return LineContact.objects.get(line_channel=channel, line_user_id=line_user_id)


def apply_follow(channel: LineChannel, line_user_id: str, *, following: bool, at: dt.datetime) -> str:
    """A follow creates or reactivates the contact, an unfollow marks it unreachable (nothing is removed, no
    booking changes). An event older than the newest applied is "stale" (LINE delivers out of order); an equal
    timestamp applies (it was sorted after). IntegrityError when a concurrent event created the contact first: the
    caller retries."""
    contact = (
        LineContact.objects.select_for_update(no_key=True)
        .filter(line_channel=channel, line_user_id=line_user_id)
        .first()
    )
    if contact is None:
        # An unfollow for someone we never saw creates an unfollowed contact, so that their older follow, arriving
        # later, cannot make them look followed.
        LineContact.objects.create(
            line_channel=channel, line_user_id=line_user_id, following=following, status_changed_at=at
        )
        return "created" if following else "created unfollowed"
    if contact.status_changed_at and at < contact.status_changed_at:
        return "stale"
    LineContact.objects.filter(pk=contact.pk).update(following=following, status_changed_at=at)
    return "followed" if following else "unfollowed"


def on_text(channel: LineChannel, line_user_id: str, text: str, *, now: dt.datetime) -> tuple[str, Answer | None]:
    """A text message from a contact: "link" (account link), "unlink", or a binding code; anything else is not for
    us (people write to the school's account too): no outcome change, no answer."""
    words = " ".join(text.split()).lower()
    contact = contact_for(channel, line_user_id)
    if words in LINK_WORDS:
        if contact.student_id:
            student = contact.student
            return ALREADY_LINKED, Answer("already_linked", student.language, {"student": student.display_name})
        return "link token", Answer("link_button", language_of(contact), link_button=True)
    if words in UNLINK_WORDS:
        student = contact.student
        outcome = unlink_contact(contact.pk, now=now, actor=f"LINE user {line_user_id}", how="unlinked in the chat")
        if outcome == NOT_LINKED:
            return outcome, Answer("not_linked", settings.LANGUAGE_CODE)
        return outcome, Answer("unlinked", student.language, {"student": student.display_name})
    candidate = re.sub(r"[\s\-]", "", text).upper()
    if CODE_SHAPE.fullmatch(candidate):
        return redeem_code(contact.pk, candidate, now=now)
    return "ignored", None


# --- binding codes -------------------------------------------------------------------------------------------------


def channel_for(student, slug: str | None = None) -> LineChannel:
    """The channel a code is for: the one named; else the one the student's contacts are on; else the only enabled
    channel. ChannelRequired (naming the choices) when that does not decide it."""
    enabled = LineChannel.objects.filter(enabled=True)
    if slug:
        channel = enabled.filter(slug=slug).first()
        if channel is None:
            raise ChannelRequired(
                gettext("No enabled LINE channel %(slug)s; one of: %(slugs)s.")
                % {"slug": repr(slug), "slugs": _slugs(enabled)}
            )
        return channel
    theirs = enabled.filter(contacts__student=student).distinct()
    for candidates in (theirs, enabled):
        found = list(candidates[:2])
        if len(found) == 1:
            return found[0]
    if not enabled.exists():
        raise ChannelRequired(gettext("There is no enabled LINE channel to link to."))
    raise ChannelRequired(
        gettext("Say which LINE channel the code is for; one of: %(slugs)s.") % {"slugs": _slugs(enabled)}
    )


def _slugs(channels) -> str:
    return ", ".join(channels.values_list("slug", flat=True)[:20])


def issue_code(
    student, *, role: str = Role.STUDENT, now: dt.datetime, actor=None, channel_slug: str | None = None
) -> tuple[str, dt.datetime, LineChannel]:
    """A new binding code for ``student`` (as the student or a guardian): (code as shown, expiry, channel). Only
    its keyed hash is stored; the code is shown this once."""
    if role not in Role.values:
        raise DomainError(
            gettext("role must be one of %(roles)s") % {"roles": ", ".join(Role.values)}, code="validation_error"
        )
    channel = channel_for(student, channel_slug)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = now + CODE_TTL
    with transaction.atomic():
        issued = LineLinkCode.objects.create(
            digest=_digest(code),
            line_channel=channel,
            student=student,
            role=role,
            created_at=now,
            expires_at=expires_at,
            created_by=audit.actor_name(actor),
        )
        audit.record(
            LineLinkCode,
            [(issued.pk, "", None)],
            to_state="issued",
            at=now,
            actor=actor,
            field="used_at",
            data={"student_id": student.pk, "role": role},
            reason=f"LINE code for {student} as {role} on {channel.slug}, valid until {expires_at:%Y-%m-%d %H:%M} UTC",
        )
    return f"{code[:4]}-{code[4:]}", expires_at, channel


def redeem_code(contact_id: int, code: str, *, now: dt.datetime) -> tuple[str, Answer]:
    """A contact sent a code. Throttled after CODE_TRIES_PER_HOUR wrong ones in an hour (even a right one is then
    refused until the hour is over); a code of another channel, used or expired is wrong like an unknown one. All in
    one transaction, the contact locked: the code is spent only when the link is made."""
    normalized = re.sub(r"[\s\-]", "", code).upper()
    with transaction.atomic():
        contact = LineContact.objects.select_for_update(no_key=True).get(pk=contact_id)  # its student: after
        language = language_of(contact)
        window_open = contact.code_failures_since is not None and now - contact.code_failures_since < dt.timedelta(
            hours=1
        )
        if window_open and contact.code_failures >= CODE_TRIES_PER_HOUR:
            return THROTTLED, Answer("too_many_tries", language)
        found = (
            LineLinkCode.objects.select_for_update(no_key=True, of=("self",))
            .select_related("student")
            .filter(
                digest=_digest(normalized),
                line_channel_id=contact.line_channel_id,
                used_at__isnull=True,
                expires_at__gt=now,
            )
            .first()
        )
        if found is None:
            if window_open:
                LineContact.objects.filter(pk=contact.pk).update(code_failures=F("code_failures") + 1)
            else:
                LineContact.objects.filter(pk=contact.pk).update(code_failures=1, code_failures_since=now)
            return WRONG_CODE, Answer("wrong_code", language)
        student = found.student
        try:
            outcome = link_contact(
                contact.pk, student, role=found.role, now=now, actor=f"LINE user {contact.line_user_id}", how="code"
            )
        except LinkedElsewhere:
            return LINKED_ELSEWHERE, Answer("linked_elsewhere", language)
        LineLinkCode.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=now, used_by=contact)
    return outcome, _linked_answer(student, found.role, outcome)


def _linked_answer(student, role: str, outcome: str) -> Answer:
    if outcome == ALREADY_LINKED:
        return Answer("already_linked", student.language, {"student": student.display_name})
    name = "linked_guardian" if role == Role.GUARDIAN else "linked_student"
    return Answer(name, student.language, {"student": student.display_name})


# --- LINE's account link -------------------------------------------------------------------------------------------


def start_account_link(user, channel_slug: str, link_token: str, *, role: str, now: dt.datetime) -> str:
    """After a login on our link page: a nonce for the logged-in student (and the role they chose), and the URL of
    LINE's account-link dialog to send the browser to."""
    student = getattr(user, "student", None)
    if student is None:
        raise NotAStudent(gettext("This login has no student profile: log in with the student's account to link LINE."))
    if role not in Role.values:
        raise DomainError(
            gettext("role must be one of %(roles)s") % {"roles": ", ".join(Role.values)}, code="validation_error"
        )
    if not link_token or len(link_token) > 255:
        raise DomainError(gettext('The link has no LINE link token; send "link" in the chat again.'), code="bad_link")
    channel = LineChannel.objects.filter(slug=channel_slug, enabled=True).first()
    if channel is None:
        raise NotFound(gettext("No enabled LINE channel %(slug)s.") % {"slug": repr(channel_slug)})
    nonce = secrets.token_urlsafe(32)  # 256 random bits, 43 characters (LINE: 10 to 255, unpredictable)
    LineLinkNonce.objects.create(
        digest=hashlib.sha256(nonce.encode()).hexdigest(),
        line_channel=channel,
        student=student,
        role=role,
        created_at=now,
        expires_at=now + NONCE_TTL,
    )
    query = urlencode({"linkToken": link_token, "nonce": nonce})
    return f"{settings.LINE_ACCESS_BASE_URL.rstrip('/')}/dialog/bot/accountLink?{query}"


def complete_account_link(
    channel: LineChannel, line_user_id: str, *, result: str, nonce: str, now: dt.datetime
) -> tuple[str, Answer]:
    """The ``accountLink`` event. Only ``result: ok`` with a nonce we issued for this channel, unused and unexpired,
    links; the nonce is spent either way (single use: a replay, even of a failed one, links nothing)."""
    contact = contact_for(channel, line_user_id)
    digest = hashlib.sha256((nonce or "").encode()).hexdigest()
    with transaction.atomic():
        issued = (
            LineLinkNonce.objects.select_for_update(no_key=True, of=("self",))
            .select_related("student")
            .filter(digest=digest, line_channel=channel, used_at__isnull=True)
            .first()
        )
        if issued is not None:
            LineLinkNonce.objects.filter(pk=issued.pk, used_at__isnull=True).update(used_at=now)
        if issued is None or issued.expires_at <= now or result != "ok":
            return LINK_FAILED, Answer("link_failed", language_of(contact))
        try:
            outcome = link_contact(contact.pk, issued.student, role=issued.role, now=now, how="LINE account link")
        except LinkedElsewhere:
            return LINKED_ELSEWHERE, Answer("linked_elsewhere", language_of(contact))
    return outcome, _linked_answer(issued.student, issued.role, outcome)


def link_page_url(channel: LineChannel, link_token: str) -> str:
    """Our page the link button opens (it needs a login, then sends the browser to LINE's dialog)."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/integrations/line/link/{channel.slug}/?" + urlencode(
        {"linkToken": link_token}
    )


def expire_line_links(now: dt.datetime) -> Counter:
    """Sweep (maintenance pass): forget the nonces and codes whose time is up, used or not (an expired one links
    nothing anyway; its issue and use are in the history)."""
    return delete_expired(LineLinkNonce, now) + delete_expired(LineLinkCode, now)
