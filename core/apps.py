from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class CoreConfig(AppConfig):
    """What every app builds on: the state-machine engine and its history, the sweep engine and its clock, domain
    errors, money, time zones and the admin's building blocks. It imports no other app of the project."""

    name = "core"
    verbose_name = gettext_lazy("Core: history and sweeps")

    def ready(self):
        # System checks register when their module is imported; these modules read models or settings that need
        # the app registry, so they are imported once it is ready (config is not an app).
        from config import checks  # noqa: F401
        from core import checks as clock_checks  # noqa: F401
