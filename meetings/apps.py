from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = gettext_lazy("Meetings")
