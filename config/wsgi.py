import os

from django.core.wsgi import get_wsgi_application

from config.checks import refuse_to_start_on_config_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# gunicorn and other WSGI servers run no system checks: a bad setting must still stop them, naming the variable.
refuse_to_start_on_config_errors()
