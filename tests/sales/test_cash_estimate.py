"""The cash estimated in a machine's box since its last collection: cash vends, or the
audits' cash-box counters where audits cover the time since the collection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from sales import cash_rules
from sales.audits import import_audit
from sales.cash import cash_position
from sales.cash_rules import AuditCash, covering_span
from sales.ingest import ingest_vends
from sales.models import CashCollection
from sales.vends import VendIn
from tests.sales.cashaudits import cash_audit

pytestmark = pytest.mark.django_db


def minute(delta: timedelta) -> datetime:
    """Now plus `delta`, on a whole minute (an audit's EA3 clock has minutes)."""
    return (timezone.now() + delta).replace(second=0, microsecond=0)


def vend(transaction_id: str, price: int, at: datetime, method: str = "cash") -> VendIn:
    return VendIn(transaction_id, "3", price, method, "", at)


def collect(machine, at: datetime, amount: int = 0) -> CashCollection:
    return CashCollection.objects.create(machine=machine, organization=machine.organization,
                                         collected_at=at, amount=amount)


def test_never_collected_counts_every_cash_vend_and_no_card_or_mobile(personas):
    now = timezone.now()
    ingest_vends(machine=personas.machine, vends=[
        vend("t-1", 15000, now - timedelta(days=30)), vend("t-2", 12000, now),
        vend("t-3", 99000, now, "card"), vend("t-4", 99000, now, "mobile")])
    estimate = cash_position(machine=personas.machine).estimate
    assert (estimate.expected, estimate.source, estimate.since) == (27000, "vends", None)


def test_a_machine_without_vends_holds_nothing(personas):
    position = cash_position(machine=personas.machine)
    assert position.estimate.expected == 0
    assert (position.last_collection_id, position.open_task_id) == (None, None)


def test_only_cash_vends_after_the_last_collection_count(personas):
    now = timezone.now()
    collected = collect(personas.machine, now - timedelta(hours=2))
    ingest_vends(machine=personas.machine, vends=[
        vend("before", 15000, now - timedelta(hours=3)),  # in the box that was emptied
        vend("at", 15000, now - timedelta(hours=2)),  # at the collection itself: emptied too
        vend("after", 12000, now - timedelta(hours=1))])
    position = cash_position(machine=personas.machine)
    assert position.estimate.expected == 12000
    assert position.estimate.since == collected.collected_at
    assert position.last_collection_id == collected.pk


def test_the_estimate_at_a_past_time_leaves_later_vends_and_collections_out(personas):
    now = timezone.now()
    collect(personas.machine, now - timedelta(hours=5))
    collect(personas.machine, now)
    ingest_vends(machine=personas.machine, vends=[
        vend("t-1", 10000, now - timedelta(hours=4)), vend("t-2", 20000, now - timedelta(hours=1))])
    estimate = cash_position(machine=personas.machine, until=now - timedelta(hours=2)).estimate
    assert estimate.expected == 10000


def test_an_audit_read_at_the_collection_makes_the_next_audit_the_expected_cash(
        coffee_machine):
    tz = coffee_machine.organization.time_zone
    import_audit(machine=coffee_machine, source="device", now=minute(timedelta(days=-7)),
                 text=cash_audit(read_at=minute(timedelta(days=-7)), time_zone=tz))
    at_collection = minute(timedelta(hours=-5))
    import_audit(machine=coffee_machine, source="device", now=at_collection,
                 text=cash_audit(read_at=at_collection, time_zone=tz, to_box=900000))
    # The operator read the machine, counted, then recorded: five minutes later.
    collect(coffee_machine, at_collection + timedelta(minutes=5))
    ingest_vends(machine=coffee_machine, vends=[
        vend("t-1", 14000, minute(timedelta(hours=-3))),
        vend("t-2", 14000, minute(timedelta(minutes=-30)))])
    import_audit(machine=coffee_machine, source="device", now=minute(timedelta(hours=-1)),
                 text=cash_audit(read_at=minute(timedelta(hours=-1)), time_zone=tz,
                                 to_box=900000 + 50000))
    estimate = cash_position(machine=coffee_machine).estimate
    # The box took 50 000 by the audit until an hour ago, then one cash vend of 14 000.
    assert (estimate.source, estimate.audit_cash, estimate.vend_cash) == ("audit", 50000, 28000)
    assert estimate.expected == 50000 + 14000
    assert estimate.audited_to == minute(timedelta(hours=-1))


def test_an_audit_whose_period_began_before_the_collection_does_not_count(coffee_machine):
    tz = coffee_machine.organization.time_zone
    import_audit(machine=coffee_machine, source="device", now=minute(timedelta(days=-7)),
                 text=cash_audit(read_at=minute(timedelta(days=-7)), time_zone=tz))
    collect(coffee_machine, minute(timedelta(hours=-5)))
    ingest_vends(machine=coffee_machine, vends=[vend("t-1", 14000, minute(timedelta(hours=-2)))])
    # A week of cash to the box, most of it collected five hours ago: not this box's.
    import_audit(machine=coffee_machine, source="device", now=minute(timedelta(hours=-1)),
                 text=cash_audit(read_at=minute(timedelta(hours=-1)), time_zone=tz,
                                 to_box=2_000_000))
    estimate = cash_position(machine=coffee_machine).estimate
    assert (estimate.source, estimate.expected, estimate.audit_cash) == ("vends", 14000, None)


def test_a_first_audit_is_a_baseline_and_says_nothing_of_the_cash(coffee_machine):
    tz = coffee_machine.organization.time_zone
    collect(coffee_machine, minute(timedelta(hours=-5)))
    import_audit(machine=coffee_machine, source="device", now=minute(timedelta(hours=-1)),
                 text=cash_audit(read_at=minute(timedelta(hours=-1)), time_zone=tz))
    ingest_vends(machine=coffee_machine, vends=[vend("t-1", 14000, minute(timedelta(hours=-2)))])
    estimate = cash_position(machine=coffee_machine).estimate
    assert (estimate.source, estimate.expected) == ("vends", 14000)


def test_the_estimate_is_one_query_without_an_audit_since_the_collection(
        personas, django_assert_num_queries):
    now = timezone.now()
    collect(personas.machine, now - timedelta(hours=2))
    ingest_vends(machine=personas.machine, vends=[vend("t-1", 12000, now)])
    with django_assert_num_queries(1):
        cash_position(machine=personas.machine)


# -- the pure rules --

T = datetime(2026, 3, 1, 9, tzinfo=UTC)


def audit(record_id, previous_id, start, end, to_box=1000, baseline=False) -> AuditCash:
    return AuditCash(record_id, previous_id, start, end, to_box, baseline)


def test_a_span_chains_audits_from_the_collection_and_stops_at_a_gap():
    audits = [audit("b", "a", T, T + timedelta(hours=1), 100),
              audit("c", "b", T + timedelta(hours=1), T + timedelta(hours=2), 200),
              audit("e", "d", T + timedelta(hours=3), T + timedelta(hours=4), 400)]
    span = covering_span(audits, T)
    assert (span.start, span.end, span.to_box, span.audits) == (
        T, T + timedelta(hours=2), 300, 2)


def test_a_span_needs_a_collection_and_the_box_counter():
    assert covering_span([audit("b", "a", T, T + timedelta(hours=1))], None) is None
    assert covering_span([audit("b", "a", T, T + timedelta(hours=1), to_box=None)], T) is None
    assert covering_span([audit("b", None, None, T + timedelta(hours=1), baseline=True)],
                         T) is None


def test_an_audit_read_just_before_the_collection_was_recorded_starts_the_span():
    tolerance = cash_rules.COLLECTION_AUDIT_TOLERANCE
    early = audit("b", "a", T - tolerance, T + timedelta(hours=1))
    too_early = audit("b", "a", T - tolerance - timedelta(seconds=1), T + timedelta(hours=1))
    assert covering_span([early], T) is not None
    assert covering_span([too_early], T) is None


def test_the_estimate_adds_vends_around_the_audited_span():
    span = cash_rules.AuditSpan(T, T + timedelta(hours=1), 5000, 1)
    result = cash_rules.estimate(since=T, vend_cash=9000, span=span, vend_cash_before_span=100,
                                 vend_cash_after_span=200)
    assert (result.expected, result.source, result.vend_cash) == (5300, "audit", 9000)


@pytest.mark.parametrize(("expected", "threshold", "task_open", "due"), [
    (500_000, 500_000, False, True),  # reaching the threshold is passing it
    (499_999, 500_000, False, False),
    (9_000_000, 0, False, False),  # 0: off
    (900_000, 500_000, True, False),  # a task is open already
])
def test_collection_due(expected, threshold, task_open, due):
    assert cash_rules.collection_due(expected=expected, threshold=threshold,
                                     task_open=task_open) is due
