"""A JSON log formatter (the message plus every ``extra=`` field, one object per line) and the filter that keeps
signed link tokens out of the request logs."""

import json
import logging
import re

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)

    converter = __import__("time").gmtime


# --- signed link tokens never reach a log line ----------------------------------------------------------------------
#
# Whoever holds a join or feedback link's token acts as that student, so it is a secret. Django's request log writes
# the path of every 4xx/5xx answer ("Forbidden: /j/<token>/", with the request in ``extra``) and runserver logs each
# request line, query string included ('"GET /rooms/<name>/?t=<token> HTTP/1.1" 403'). RedactLinkTokens, attached
# to those loggers in settings.LOGGING, keeps the first few characters (enough to tell two links apart in an incident)
# and drops the rest.

# The path segment after /j/ or /feedback/ (a join or feedback link; anything else there is not a page of ours), or
# /calendar/ (a calendar feed: whoever has it reads the person's classes).
_LINK_TOKEN = re.compile(r"""(?P<head>/(?:j|feedback|calendar)/)(?P<token>[^/\s"'?#&]+)""")
# The ``t`` query parameter of a local room page.
_ROOM_TOKEN = re.compile(r"""(?P<head>/rooms/[^\s"'?#]*\?(?:[^\s"'#]*?&)?t=)(?P<token>[^&\s"'#]+)""")
# LINE's link token on our account-link page (plain, or inside a login's ?next=): with it and a login of one's own,
# someone could link that LINE user to their account within its 10 minutes.
_LINE_LINK_TOKEN = re.compile(r"""(?P<head>linkToken(?:=|%3D))(?P<token>[^&\s"'#%]+)""")
_MARKERS = ("/j/", "/feedback/", "/calendar/", "t=", "linkToken")
REDACTED = "…[redacted]"
SHOWN = 4


def _shorten(match: re.Match) -> str:
    token = match["token"]
    if token.endswith(REDACTED):  # redacted already (a record seen by two filters)
        return match[0]
    shown = token[:SHOWN] if len(token) > 2 * SHOWN else ""
    return f"{match['head']}{shown}{REDACTED}"


def redact(text: str) -> str:
    """``text`` with the token part of every join, feedback, room, calendar and LINE account link replaced
    (``/j/eyJh…[redacted]/``)."""
    if not any(marker in text for marker in _MARKERS):  # most lines: no regular expression at all
        return text
    return _LINE_LINK_TOKEN.sub(_shorten, _ROOM_TOKEN.sub(_shorten, _LINK_TOKEN.sub(_shorten, text)))


def _redacted(value):
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    shown = str(value)  # what a formatter would write, e.g. "<WSGIRequest: GET '/j/<token>/'>"
    cleaned = redact(shown)
    return value if cleaned == shown else cleaned


class RedactLinkTokens(logging.Filter):
    """Redact link tokens in a record's message, its arguments and its ``extra`` values. Always keeps the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(value) for value in record.args)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, _redacted(value))
        return True


class HealthzIsNotAnError(logging.Filter):
    """runserver logs the request line of every 5xx answer as an ERROR; /healthz's 503 (no sweep yet, or stale
    sweeps; the view logs which, at info or warning) is a health report, not a failure of this request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and getattr(record, "status_code", None) == 503
            and isinstance(record.args, tuple)
            and record.args
            and " /healthz " in str(record.args[0])
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
