"""core.sweeping.claim_batches with a time budget: it stops claiming once the budget is spent (the rest is the next
tick's), and without one it takes everything due. The link sweeps use it (LINK_PASS_SECONDS) so a peak minute's
50,000 links never hold up the clock's opens and closes."""

from collections import Counter

import pytest

from core.sweeping import claim_batches
from meetings.models import Meeting
from tests.factories import MeetingFactory


class Ticking:
    """A monotonic clock that moves one second each time it is read."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


@pytest.mark.django_db
def test_a_budget_stops_claiming_and_the_rest_waits_for_the_next_pass(teacher, now):
    for _ in range(10):
        MeetingFactory(teacher=teacher)
    seen = []

    def apply(batch):
        seen.extend(m.pk for m in batch)
        Meeting.objects.filter(pk__in=[m.pk for m in batch]).update(title="done")
        return Counter(done=len(batch))

    def due():
        return Meeting.objects.exclude(title="done").order_by("pk")

    # The clock moves a second per read: the deadline read, then one check before each batch.
    first = claim_batches("t", due, apply, on_failure=None, batch_size=2, budget_seconds=2.5, monotonic=Ticking())
    assert first == {"done": 4}  # two batches, then the budget was spent
    rest = claim_batches("t", due, apply, on_failure=None, batch_size=2)
    assert rest == {"done": 6} and len(set(seen)) == 10  # no budget: everything left, each row once
