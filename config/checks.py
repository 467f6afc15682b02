"""System checks that stop start-up on a bad setting, naming the variable to fix."""

from django.conf import settings
from django.core.checks import Error, register


@register("config")
def check_settings(app_configs=None, **kwargs):
    return [
        Error(f"{name} {message}", hint=f"Fix {name} in the environment or .env (see .env.example).", id="config.E001")
        for name, message in getattr(settings, "SETTINGS_ERRORS", [])
    ]
