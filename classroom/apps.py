from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "classroom"
    verbose_name = "People and courses"

    def ready(self):
        from config import checks  # noqa: F401  (registers the settings check)
