"""The API's settings: a bad throttle rate stops start-up naming the variable."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_login_throttle_rate_stops_start_up_naming_it(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none"),
        "API_AUTH_THROTTLE_RATE": "lots",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "API_AUTH_THROTTLE_RATE" in result.stderr


def test_the_development_settings_pass_the_checks(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/d.db",
        "DJANGO_SETTINGS_MODULE": "config.settings_dev",
    }
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
