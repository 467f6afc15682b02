from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app builds on: the state-machine engine and its history, the sweep engine and its clock, domain
    errors, money, time zones and the admin's building blocks. It imports no other app of the project."""

    name = "core"
    verbose_name = "Core: history and sweeps"

    def ready(self):
        # Django collects checks at start-up from modules imported by then; config is not an app, so it is imported
        # here, once the registry is ready.
        from config import checks  # noqa: F401
