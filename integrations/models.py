"""Models of the outside-service packages, gathered under the ``integrations`` app label."""

from integrations.line.models import LineChannel

__all__ = ["LineChannel"]
