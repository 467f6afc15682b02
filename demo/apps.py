from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo school of ``make run`` (``manage.py seed_demo``), beside the apps it seeds. It has no models."""

    name = "demo"
    verbose_name = "Demo school"
