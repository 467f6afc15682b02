"""The demo (`make run`): messages go to the log; each booked student's join and feedback links appear there once."""

import datetime as dt
import logging
from collections import Counter
from io import StringIO

import time_machine
from django.core.management import call_command

from core.runner import run_sweeps
from meetings.models import Meeting


def test_the_demo_class_logs_each_join_and_feedback_link_once(db, now, caplog, settings):
    assert settings.NOTIFICATION_CHANNEL == "log"
    settings.DEBUG = True  # the demo runs with DEBUG on (make run); seed_demo refuses otherwise
    with time_machine.travel(now, tick=False):
        call_command("seed_demo", stdout=StringIO())
    demo = Meeting.objects.get(title__startswith="Demo class")
    booked = {b.student.email for b in demo.bookings.select_related("student")}  # the demo students have no LINE
    assert len(booked) == 3
    caplog.set_level(logging.INFO, logger="classroom.notifications")
    moments = [now + dt.timedelta(seconds=s) for s in range(0, 40 * 60, 30)]  # the clock, every 30 s, twice over
    for moment in moments + moments:
        run_sweeps(moment, record=False)
    logged = Counter(
        (r.kind, r.to)
        for r in caplog.records
        if r.getMessage() == "message" and r.meeting_id == demo.pk and r.kind in ("join_link", "feedback_link")
    )
    assert logged == {(kind, to): 1 for kind in ("join_link", "feedback_link") for to in booked}
    texts = [r.text for r in caplog.records if getattr(r, "kind", "") == "join_link" and r.meeting_id == demo.pk]
    assert all("/j/" in text for text in texts)
