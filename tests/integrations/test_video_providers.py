"""The provider registry and the settings that select a provider."""

import os
import subprocess
import sys
from pathlib import Path

from integrations.livekit.provider import LiveKitProvider
from integrations.local.provider import LocalProvider
from integrations.video import get_provider, polling_providers
from integrations.zoom.provider import ZoomProvider


def test_video_provider_selects_the_implementation(settings):
    assert isinstance(get_provider(), LocalProvider)  # the default
    settings.VIDEO_PROVIDER = "zoom"
    assert isinstance(get_provider(), ZoomProvider)
    assert isinstance(get_provider("livekit"), LiveKitProvider)  # a meeting's own provider wins


def test_only_livekit_can_be_polled_for_who_is_in_the_room():
    assert polling_providers() == ["livekit"]


def test_livekit_without_credentials_stops_start_up_naming_the_variables(tmp_path):
    env = {
        **os.environ,
        "ENV_FILE": str(tmp_path / "none.env"),
        "VIDEO_PROVIDER": "livekit",
        "LIVEKIT_API_KEY": "",
        "LIVEKIT_API_SECRET": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "LIVEKIT_API_KEY is required when VIDEO_PROVIDER=livekit" in result.stderr
    assert "LIVEKIT_API_SECRET is required" in result.stderr
