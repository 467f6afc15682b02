import re
import subprocess
import sys
from pathlib import Path

import environ
from django.test import override_settings

from config.checks import check_settings
from config.env import EnvReader

ROOT = Path(__file__).resolve().parents[2]


def _reader_with(values):
    class FakeEnv(environ.Env):
        def str(self, var, default=None, **kwargs):
            return values.get(var, default)

    return EnvReader(FakeEnv())


def test_it_uses_defaults_when_nothing_is_set():
    env = _reader_with({})
    assert env.minutes("JOIN_LINK_LEAD_MINUTES", 10) == 10
    assert env.time_zone("DEFAULT_USER_TIME_ZONE", "UTC") == "UTC"
    assert env.database("DATABASE_URL", "sqlite:///x.sqlite3")["ENGINE"] == "django.db.backends.sqlite3"
    assert env.errors == []


def test_it_names_the_variable_for_each_kind_of_bad_value():
    env = _reader_with(
        {
            "LEAD": "-3",
            "COUNT": "ten",
            "TZ": "Mars/Olympus_Mons",
            "URL": "not a url",
            "DB": "mysql://x/y",
            "RATE": "1.5",
            "FLAG": "maybe",
            "PROVIDER": "skype",
        }
    )
    assert env.minutes("LEAD", 10) == 10
    assert env.int("COUNT", 3) == 3
    assert env.time_zone("TZ", "UTC") == "UTC"
    assert env.url("URL", "http://127.0.0.1") == "http://127.0.0.1"
    assert env.database("DB", "sqlite:///x.sqlite3")["ENGINE"] == "django.db.backends.sqlite3"
    assert str(env.decimal("RATE", "0.20", minimum="0", maximum="1")) == "0.20"
    assert env.bool("FLAG", True) is True
    assert env.choice("PROVIDER", "local", ("local", "zoom")) == "local"
    assert [name for name, _ in env.errors] == ["LEAD", "COUNT", "TZ", "URL", "DB", "RATE", "FLAG", "PROVIDER"]


def test_it_parses_good_values():
    env = _reader_with({"URL": "https://api.line.me/", "DB": "postgres://postgres@127.0.0.1:5432/app", "N": "7"})
    assert env.url("URL", "") == "https://api.line.me"  # no trailing slash: the LINE SDK breaks on one
    assert env.database("DB", "sqlite:///x")["ENGINE"] == "django.db.backends.postgresql"
    assert env.minutes("N", 10) == 7
    assert env.errors == []


def test_the_system_check_reports_each_error_with_its_variable():
    with override_settings(SETTINGS_ERRORS=[("JOIN_LINK_LEAD_MINUTES", "must be at least 0, got -3")]):
        errors = check_settings()
    assert len(errors) == 1
    assert errors[0].id == "config.E001"
    assert "JOIN_LINK_LEAD_MINUTES" in errors[0].msg and "-3" in errors[0].msg


def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none"),
        "DEFAULT_USER_TIME_ZONE": "Asia/Saigon_x",
        "MEETING_AUTO_CLOSE_DELAY_MINUTES": "-5",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "DEFAULT_USER_TIME_ZONE" in result.stderr
    assert "MEETING_AUTO_CLOSE_DELAY_MINUTES" in result.stderr


def test_env_example_lists_every_variable_settings_read():
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert read, "settings.py reads variables through env.<type>(NAME, ...)"
    assert read - example == set(), "add these to .env.example with a default and an explanation"
    assert example - read - {"ENV_FILE"} == set(), "these are in .env.example but settings.py never reads them"


def test_a_channel_order_naming_an_unknown_channel_stops_start_up(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none"),
        "NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY": "VN=zalo,fax;TW=line,email",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "NOTIFICATION_CHANNEL_ORDER_BY_COUNTRY" in result.stderr and "'zalo,fax'" in result.stderr
