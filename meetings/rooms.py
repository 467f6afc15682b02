"""Video rooms: made ahead of each class (``provision_rooms``) and ended for everyone once it closed or was
cancelled (``end_rooms``), both as leased outside calls (``meetings.outside_calls``) that are retried until the
provider confirms. A class moved before it opens forgets its room (``forget_room``) and gets a new one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from django.conf import settings

from integrations.video import Room, get_provider
from meetings.models import Meeting
from meetings.outside_calls import call_each_leased

State = Meeting.State


def room_columns(provider: str, room: Room, *, provisioned_at: dt.datetime | None) -> dict:
    """The meeting's columns that hold its room: the provider, ``room_<field>`` for each field of ``room``, and when
    it was made."""
    fields = {f"room_{field.name}": getattr(room, field.name) for field in dataclasses.fields(room)}
    return {"room_provider": provider, **fields, "room_provisioned_at": provisioned_at}


def forget_room(meeting: Meeting) -> None:
    """Empty the meeting's room columns (on the instance: the caller saves it), so ``provision_rooms`` makes a new
    room; the old one was made for times that changed."""
    for column, value in room_columns("", Room(name=""), provisioned_at=None).items():
        setattr(meeting, column, value)


def provision_rooms(now: dt.datetime, *, only_ids=None) -> Counter:
    """Meetings starting within ROOM_PROVISION_LOOKAHEAD_MINUTES (or already running) get a room."""
    horizon = now + dt.timedelta(minutes=settings.ROOM_PROVISION_LOOKAHEAD_MINUTES)
    due = (
        Meeting.objects.filter(
            state__in=[State.SCHEDULED, *Meeting.ACTIVE_STATES],
            room_provisioned_at__isnull=True,
            start_time__lte=horizon,
        )
        .select_related("course", "teacher")
        .order_by("start_time")
    )

    def call(meeting):
        provider = get_provider()
        room = provider.create_room(meeting, now=now)
        stored = Meeting.objects.filter(pk=meeting.pk, room_provisioned_at__isnull=True).update(
            **room_columns(provider.name, room, provisioned_at=now)
        )
        return "provisioned" if stored else "already provisioned"

    return call_each_leased(due, now, "provision room", call, only_ids)


def end_rooms(now: dt.datetime, *, only_ids=None) -> Counter:
    """Rooms of closed or cancelled meetings are ended for everyone; retried until the provider confirms."""
    due = Meeting.objects.filter(
        state__in=[State.CLOSED, State.CANCELLED], room_provisioned_at__isnull=False, room_ended_at__isnull=True
    )

    def call(meeting):
        get_provider(meeting.room_provider).end_room(meeting, now=now)
        Meeting.objects.filter(pk=meeting.pk, room_ended_at__isnull=True).update(room_ended_at=now)
        return "ended"

    return call_each_leased(due, now, "end room", call, only_ids)
