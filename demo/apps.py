from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class DemoConfig(AppConfig):
    """The demo school of ``make run`` (``manage.py seed_demo``), beside the apps it seeds. It has no models."""

    name = "demo"
    verbose_name = gettext_lazy("Demo school")
