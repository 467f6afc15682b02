import os

from django.core.asgi import get_asgi_application

from config.checks import refuse_to_start_on_config_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()
# ASGI servers run no system checks: a bad setting must still stop them, naming the variable.
refuse_to_start_on_config_errors()
