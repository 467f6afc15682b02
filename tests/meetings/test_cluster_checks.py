"""The django-q2 cluster's timeout and retry fit the lifecycle clock (core.checks): otherwise the clock is killed
before its run ends, or handed to a second worker while the first still runs."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.test import override_settings

from core.checks import check_cluster_fits_the_clock
from core.clock import CLOCK_SECONDS

ROOT = Path(__file__).resolve().parents[2]


def cluster(**changes):
    return override_settings(Q_CLUSTER={**settings.Q_CLUSTER, **changes})


def test_the_configured_cluster_fits_the_clock():
    assert check_cluster_fits_the_clock() == []


def test_a_timeout_not_above_the_clock_run_is_an_error():
    with cluster(timeout=CLOCK_SECONDS, retry=CLOCK_SECONDS * 3):
        errors = check_cluster_fits_the_clock()
    assert [e.id for e in errors] == ["core.E001"]
    assert "timeout" in errors[0].msg and str(CLOCK_SECONDS) in errors[0].msg


def test_no_timeout_is_an_error_too():
    with cluster(timeout=None):
        assert [e.id for e in check_cluster_fits_the_clock()] == ["core.E001", "core.E002"]


def test_a_retry_not_above_the_timeout_is_an_error():
    with cluster(timeout=CLOCK_SECONDS + 20, retry=CLOCK_SECONDS + 20):
        errors = check_cluster_fits_the_clock()
    assert [e.id for e in errors] == ["core.E002"]
    assert "retry" in errors[0].msg


def test_it_stops_start_up():
    """Registered with the config checks, so manage.py (qcluster included) and config.wsgi refuse to start."""
    code = (
        "import django; from django.conf import settings; django.setup(); "
        "settings.Q_CLUSTER['timeout'] = 30; "
        "from config.checks import refuse_to_start_on_config_errors; refuse_to_start_on_config_errors()"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=os.environ, capture_output=True, text=True)
    assert result.returncode != 0
    assert "core.E001" in result.stderr
