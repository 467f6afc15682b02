"""FEEDBACK_LINK_VALID_HOURS: how long a feedback link takes feedback; never shorter than the catch-up window in which
a late feedback link is still sent (FEEDBACK_LINK_USEFUL_HOURS), or start-up stops naming both."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path, **values) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none"),
        "DJANGO_SETTINGS_MODULE": "config.settings_dev",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        **values,
    }
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)


def test_a_feedback_link_valid_for_less_than_its_catch_up_window_stops_start_up(tmp_path):
    result = check(tmp_path, FEEDBACK_LINK_USEFUL_HOURS="48", FEEDBACK_LINK_VALID_HOURS="24")
    assert result.returncode != 0
    assert "FEEDBACK_LINK_VALID_HOURS must be at least FEEDBACK_LINK_USEFUL_HOURS (48)" in result.stderr


def test_as_long_as_the_catch_up_window_is_enough(tmp_path):
    result = check(tmp_path, FEEDBACK_LINK_USEFUL_HOURS="48", FEEDBACK_LINK_VALID_HOURS="48")
    assert result.returncode == 0, result.stderr


def test_the_default_is_three_days(settings):
    assert settings.FEEDBACK_LINK_VALID_HOURS == 72 >= settings.FEEDBACK_LINK_USEFUL_HOURS
