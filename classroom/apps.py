from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ClassroomConfig(AppConfig):
    name = "classroom"
    verbose_name = gettext_lazy("People and courses")
