"""The LINE calls of account linking: issue a link token, and reply to an event with its (free) reply token.

Both go through the SDK's ``MessagingApi`` on ``LINE_API_BASE_URL`` with both timeouts on every call (the SDK has
none by default) and urllib3's own retries off. Neither is worth retrying later: a reply token is valid for about a
minute and only once, and a link token is asked for while the user waits in the chat; a failure is reported to the
caller (:class:`LineCallFailed`, without the token or the secret), which replies or logs accordingly."""

from __future__ import annotations

import logging

import urllib3
from django.conf import settings
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    ButtonsTemplate,
    Configuration,
    MessagingApi,
    ReplyMessageRequest,
    TemplateMessage,
    TextMessage,
    URIAction,
)

from integrations.line.models import LineChannel

logger = logging.getLogger("classroom.line")

BUTTON_TEXT_MAX = 160  # LINE's limit for a buttons template's text without an image
ALT_TEXT_MAX = 400


class LineCallFailed(Exception):
    """LINE did not do what we asked (its status and short reason; never the token)."""


def _api(channel: LineChannel) -> tuple[ApiClient, tuple[float, float]]:
    configuration = Configuration(host=settings.LINE_API_BASE_URL.rstrip("/"), access_token=channel.access_token)
    configuration.retries = False
    timeout = (settings.LINE_CONNECT_TIMEOUT_MS / 1000, settings.LINE_READ_TIMEOUT_MS / 1000)
    return ApiClient(configuration), timeout


def _call(channel: LineChannel, what: str, function):
    client, timeout = _api(channel)
    try:
        with client:
            return function(MessagingApi(client), timeout)
    except ApiException as exc:
        logger.warning("line call refused", extra={"line_channel": channel.slug, "call": what, "status": exc.status})
        raise LineCallFailed(f"LINE {exc.status} on {what}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        logger.warning(
            "line no answer", extra={"line_channel": channel.slug, "call": what, "error": type(exc).__name__}
        )
        raise LineCallFailed(f"LINE {what}: no answer ({type(exc).__name__})") from None


def issue_link_token(channel: LineChannel, line_user_id: str) -> str:
    """``POST /v2/bot/user/{userId}/linkToken``: a token valid 10 minutes, once, for this user's account link."""
    response = _call(
        channel,
        "linkToken",
        lambda api, timeout: api.issue_link_token(line_user_id, _request_timeout=timeout),
    )
    return response.link_token


def text(message: str) -> TextMessage:
    return TextMessage(text=message[:5000])


def button(message: str, label: str, url: str) -> TemplateMessage:
    """A message with one button opening ``url`` (the link page with the link token)."""
    return TemplateMessage(
        alt_text=f"{message} {url}"[:ALT_TEXT_MAX],
        template=ButtonsTemplate(text=message[:BUTTON_TEXT_MAX], actions=[URIAction(label=label[:20], uri=url)]),
    )


def reply(channel: LineChannel, reply_token: str, messages: list) -> None:
    """The Reply API (free, unlike a push): answer the event that carried ``reply_token``."""
    _call(
        channel,
        "reply",
        lambda api, timeout: api.reply_message(
            ReplyMessageRequest(reply_token=reply_token, messages=messages), _request_timeout=timeout
        ),
    )
