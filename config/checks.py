"""System checks that stop start-up on a bad setting, naming the variable to fix.

Django runs them before ``runserver``, ``migrate``, ``qcluster`` and every other management command; the WSGI and
ASGI applications (gunicorn, uvicorn: Django does not check there) call :func:`refuse_to_start_on_config_errors`.
"""

from django.conf import settings
from django.core.checks import Error, Warning, register, run_checks
from django.core.exceptions import ImproperlyConfigured

CONFIG = "config"
MIN_SECRET_KEY_LENGTH = 50
# The development key (config/settings_dev.py) starts with this; it is published, so it signs nothing in production.
DEVELOPMENT_KEY_PREFIX = "dev-only-insecure-"
GENERATE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


@register(CONFIG)
def check_settings(app_configs=None, **kwargs):
    return [
        Error(f"{name} {message}", hint=f"Fix {name} in the environment or .env (see .env.example).", id="config.E001")
        for name, message in getattr(settings, "SETTINGS_ERRORS", [])
    ]


@register(CONFIG)
def check_secret_key(app_configs=None, **kwargs):
    """Anyone who knows SECRET_KEY can forge join links and sessions. With DEBUG off it must be long and our own."""
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty SECRET_KEY
        key = ""
    if not key:
        problem = "is not set"
    elif settings.DEBUG:
        return []
    elif key.startswith(DEVELOPMENT_KEY_PREFIX):
        problem = "is the published development key, which must not be used with DEBUG off"
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problem = f"is {len(key)} characters; with DEBUG off it must be at least {MIN_SECRET_KEY_LENGTH}"
    else:
        return []
    hint = f"Set SECRET_KEY to a long random value of your own, e.g. from: {GENERATE_KEY}"
    return [Error(f"SECRET_KEY {problem}.", hint=hint, id="config.E002")]


@register(CONFIG)
def check_production_services(app_configs=None, **kwargs):
    """With DEBUG off, the demo's stand-ins work but reach nobody: warn, so a real deployment notices."""
    if settings.DEBUG:
        return []
    warnings = []
    if settings.VIDEO_PROVIDER == "local":
        warnings.append(
            Warning(
                "VIDEO_PROVIDER is local: classes meet on this app's demo room page, not a real video service.",
                hint="Set VIDEO_PROVIDER=livekit or zoom (see README, Video providers).",
                id="config.W001",
            )
        )
    if settings.NOTIFICATION_CHANNEL == "log":
        warnings.append(
            Warning(
                "NOTIFICATION_CHANNEL is log: join and feedback links are only written to the log; nobody gets them.",
                hint="Set NOTIFICATION_CHANNEL=live (LINE and e-mail).",
                id="config.W002",
            )
        )
    if not settings.PUBLIC_BASE_URL.startswith("https://"):
        warnings.append(
            Warning(
                f"PUBLIC_BASE_URL is not https ({settings.PUBLIC_BASE_URL}): the links in students' messages would "
                "travel in clear text.",
                hint="Set PUBLIC_BASE_URL to the https address people reach this app at.",
                id="config.W003",
            )
        )
    return warnings


def refuse_to_start_on_config_errors() -> None:
    """Raise ImproperlyConfigured, naming each variable, when a ``config`` check finds an error (not a warning)."""
    errors = [message for message in run_checks(tags=[CONFIG]) if message.is_serious() and not message.is_silenced()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{error.msg} ({error.id}: {error.hint})" for error in errors))
