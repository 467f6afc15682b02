def mask(secret: str) -> str:
    """Show enough of a secret to recognise it, never enough to use it."""
    if not secret:
        return "—"
    return f"{secret[:4]}…{'*' * 8}" if len(secret) > 8 else "*" * 8


# The providers' sections (their modules register themselves; imported here so Django's admin autodiscovery,
# which imports only integrations.admin, finds them).
from integrations.line import admin as line_admin  # noqa: E402, F401
from integrations.livekit import admin as livekit_admin  # noqa: E402, F401
from integrations.zoom import admin as zoom_admin  # noqa: E402, F401
