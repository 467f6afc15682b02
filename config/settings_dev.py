"""Development settings: DEBUG on and the published development SECRET_KEY, asked for explicitly.

``make run``, ``make bench`` and the test suite (pyproject's DJANGO_SETTINGS_MODULE) use this module. Production
uses ``config.settings``, whose defaults are safe: DEBUG off, and no key, which stops start-up (config.E002).

The values go into the environment before ``config.settings`` reads it, so every default derived from DEBUG follows
(insecure cookies, no HTTPS redirect), and the processes started from here (qcluster, the tests' racing workers)
inherit them. A variable that is already set wins.
"""

import os

# Published, so anyone could sign sessions and join links with it: config.E002 refuses it whenever DEBUG is off.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production-0123456789"

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", DEVELOPMENT_SECRET_KEY)

from config.settings import *  # noqa: E402, F403
