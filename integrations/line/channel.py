"""Delivery through the LINE Messaging API (push and multicast). Filled in by the messaging issue."""

from __future__ import annotations


class LineMessagingChannel:
    def send(self, rows):
        from notifications.delivery import Result

        return {row.pk: Result(ok=False, error="LINE delivery is not configured yet") for row in rows}
