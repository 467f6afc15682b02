"""A system check that the django-q2 cluster's timeout and retry fit the lifecycle clock (core.clock).

django-q2 kills a task that runs longer than ``Q_CLUSTER["timeout"]``, so a timeout not above ``CLOCK_SECONDS`` cuts
every clock run short and leaves a gap before the next one. The ORM broker hands a task that is not acknowledged
within ``retry`` seconds to another worker, so a retry not above the timeout starts a second copy of a clock that is
still running (harmless for correctness, but every minute). Tagged ``config``: start-up stops on either.
"""

from django.conf import settings
from django.core.checks import Error, register

from config.checks import CONFIG
from core.clock import CLOCK_SECONDS


@register(CONFIG)
def check_cluster_fits_the_clock(app_configs=None, **kwargs):
    timeout, retry = settings.Q_CLUSTER.get("timeout"), settings.Q_CLUSTER.get("retry")
    hint = "Fix Q_CLUSTER in config/settings.py (see meetings/clock.py)."
    errors = []
    if timeout is None or timeout <= CLOCK_SECONDS:
        errors.append(
            Error(
                f"Q_CLUSTER timeout ({timeout} s) must be above the clock's run, CLOCK_SECONDS ({CLOCK_SECONDS} s): "
                "django-q2 kills a task at its timeout.",
                hint=hint,
                id="core.E001",
            )
        )
    if retry is None or timeout is None or retry <= timeout:
        errors.append(
            Error(
                f"Q_CLUSTER retry ({retry} s) must be above its timeout ({timeout} s): the broker hands a task not "
                "done within retry seconds to a second worker while the first still runs it.",
                hint=hint,
                id="core.E002",
            )
        )
    return errors
