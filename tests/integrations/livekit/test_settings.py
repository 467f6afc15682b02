"""LIVEKIT_WEBHOOK_KEYS: the extra "key:secret" pairs webhooks may be signed with, read at start-up."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SECRET = "rotated-secret-0123456789abcdef0123"


def manage(tmp_path, *args, **env):
    environment = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True
    )


def test_the_pairs_are_read_key_by_key(tmp_path):
    result = manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(sorted(settings.LIVEKIT_WEBHOOK_KEYS.items()))",
        LIVEKIT_WEBHOOK_KEYS=f" old-key:{SECRET} , other:a:b:c,",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(
        [("old-key", SECRET), ("other", "a:b:c")]
    )  # a colon in a secret


@pytest.mark.parametrize(
    "value",
    [SECRET, f"old-key:{SECRET},{SECRET}", f":{SECRET}", "old-key:", f"old-key:{SECRET},old-key:{SECRET}-two"],
    ids=["no-colon", "second-entry-no-colon", "no-key", "no-secret", "one-key-two-secrets"],
)
def test_a_bad_value_stops_start_up_naming_the_variable_but_not_the_secret(tmp_path, value):
    result = manage(tmp_path, "check", LIVEKIT_WEBHOOK_KEYS=value)
    assert result.returncode != 0
    assert "config.E001" in result.stderr and "LIVEKIT_WEBHOOK_KEYS" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_the_api_key_cannot_be_listed_with_another_secret(tmp_path):
    result = manage(
        tmp_path,
        "check",
        LIVEKIT_API_KEY="devkey",
        LIVEKIT_API_SECRET="x" * 32,
        LIVEKIT_WEBHOOK_KEYS=f"devkey:{SECRET}",
    )
    assert result.returncode != 0 and "LIVEKIT_WEBHOOK_KEYS" in result.stderr
    assert SECRET not in result.stderr and "x" * 32 not in result.stderr
