from django.apps import AppConfig


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = "Meetings"

    def ready(self):
        from meetings import checks  # noqa: F401  (registers the cluster/clock check; needs the app registry)
