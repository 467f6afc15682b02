# The providers' sections (their modules register themselves; imported here so Django's admin autodiscovery,
# which imports only integrations.admin, finds them).
from integrations.line import admin as line_admin  # noqa: F401
from integrations.livekit import admin as livekit_admin  # noqa: F401
from integrations.zalo import admin as zalo_admin  # noqa: F401
from integrations.zoom import admin as zoom_admin  # noqa: F401
