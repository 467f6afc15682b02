"""What the bot answers in the chat (msgids of the catalogues, like every other string). A contact linked to a
student is answered in the student's language; an unlinked one in LANGUAGE_CODE (``linking.language_of``)."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext_lazy as _

REPLIES = {
    "link_button": _("Tap the button and log in to the school's site to link this LINE account."),
    "link_label": _("Link my account"),
    "link_unavailable": _("Linking is not available right now. Please try again in a few minutes."),
    "linked_student": _("Done: this LINE account is linked to %(student)s. Class links will come here."),
    "linked_guardian": _("Done: this LINE account is linked as a parent or guardian of %(student)s."),
    "already_linked": _("This LINE account is already linked to %(student)s."),
    "linked_elsewhere": _('This LINE account is linked to someone else. Send "unlink" first, then link again.'),
    "wrong_code": _(
        "That code is not valid (wrong, already used or expired). Ask the school or your account page for a new one."
    ),
    "too_many_tries": _("Too many wrong codes. Please wait an hour and try again."),
    "link_failed": _('The link did not work (it may have expired after 10 minutes). Send "link" to start again.'),
    "unlinked": _("This LINE account is no longer linked to %(student)s. Nothing more will be sent here."),
    "not_linked": _("This LINE account is not linked to anyone."),
}


def reply_text(name: str, language: str, **context) -> str:
    """The reply ``name`` in ``language`` (English when the catalogue lacks it), its placeholders filled."""
    with translation.override(language):
        text = str(REPLIES[name])
    return text % context if context else text
