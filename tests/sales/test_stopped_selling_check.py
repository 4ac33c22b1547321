"""The stopped-selling check on the database: a machine online that sold at a regular pace
and then stopped notifies its organization's managers once per silence; the watchdog runs
it with every sweep."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone

from machines.models import Machine, MachineStatus, Role
from notifications.models import Notification
from sales.ingest import ingest_vends
from sales.stopped_selling import (
    SalesNorms,
    check_stopped_selling,
    episode_key,
)
from sales.vends import VendIn
from telemetry.watchdog import check_silent_machines
from tests.factories import make_notification, make_user

pytestmark = pytest.mark.django_db

#: Noon in Tashkent (the organizations' time zone), a Wednesday: the last sale.
LAST_SALE = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
PACE = timedelta(minutes=40)


def sell(machine: Machine, *, until: datetime, every: timedelta = PACE, days: int = 28,
         prefix: str = "h") -> None:
    """Sales of `machine` every `every` over `days` up to `until` (its last sale)."""
    times, t = [], until
    while t > until - timedelta(days=days):
        times.append(t)
        t -= every
    ingest_vends(machine=machine, vends=[
        VendIn(transaction_id=f"{prefix}-{i}", selection="1", price=15000,
               payment_method="cash", provider="", timestamp=at)
        for i, at in enumerate(reversed(times))
    ])
    machine.refresh_from_db()


def sell_once(machine: Machine, at: datetime, transaction_id: str) -> None:
    sell(machine, until=at, days=1, every=timedelta(days=1), prefix=transaction_id)


def stopped_notifications(**filters):
    return Notification.objects.filter(title_key="stopped_selling.title", **filters)


@pytest.fixture
def selling(personas) -> Machine:
    """acme's machine, online, sold every 40 minutes for 4 weeks until LAST_SALE."""
    make_user("acme-admin", organization=personas.acme, role=Role.ADMIN)
    sell(personas.machine, until=LAST_SALE)
    return personas.machine


def test_a_silence_far_beyond_the_usual_gap_notifies_the_managers_once(personas, selling):
    now = LAST_SALE + timedelta(hours=3, minutes=10)
    stopped = check_stopped_selling(now=now, norms=SalesNorms())
    assert [s.machine.pk for s in stopped] == [selling.pk]
    assert stopped[0].norm.usual_gap == PACE
    recipients = set(stopped_notifications().values_list("recipient__username", flat=True))
    assert recipients == {"acme-manager", "acme-admin"}  # not the operator, nor the viewer
    notification = stopped_notifications().get(recipient=personas.manager)
    assert notification.machine_id == selling.pk and notification.organization == personas.acme
    assert (notification.type, notification.priority) == ("warning", "high")
    assert notification.message_text("en") == (
        f"Machine {selling.name} has sold nothing for 3 h 10 min (usually sells within "
        f"40 min at this hour).")
    assert notification.title_text("en") == f"{selling.name} stopped selling"


def test_another_organizations_managers_hear_nothing(personas, selling):
    check_stopped_selling(now=LAST_SALE + timedelta(hours=4), norms=SalesNorms())
    assert not stopped_notifications(recipient=personas.stranger).exists()
    # The rival's own machine, silent the same way, reaches the rival's manager only.
    sell(personas.rival_machine, until=LAST_SALE, prefix="r")
    Notification.objects.all().delete()
    check_stopped_selling(now=LAST_SALE + timedelta(hours=4), norms=SalesNorms())
    rival = stopped_notifications(machine=personas.rival_machine)
    assert set(rival.values_list("recipient", flat=True)) == {personas.stranger.pk}


def test_later_sweeps_and_other_processes_do_not_repeat_it(personas, selling):
    norms = SalesNorms()
    for minutes in (200, 210, 600):
        check_stopped_selling(now=LAST_SALE + timedelta(minutes=minutes), norms=norms)
    # A second watchdog process (its own norms) finds the episode already notified.
    assert check_stopped_selling(now=LAST_SALE + timedelta(hours=11), norms=SalesNorms()) == []
    assert stopped_notifications(recipient=personas.manager).count() == 1


def test_a_sale_ends_the_episode_and_the_next_silence_is_a_new_one(personas, selling):
    norms = SalesNorms()
    check_stopped_selling(now=LAST_SALE + timedelta(hours=4), norms=norms)
    again = LAST_SALE + timedelta(hours=5)
    sell_once(selling, again, "again")
    assert selling.last_sale_at == again
    assert check_stopped_selling(now=again + timedelta(minutes=60), norms=norms) == []
    assert [s.machine.pk for s in check_stopped_selling(
        now=again + timedelta(hours=4), norms=norms)] == [selling.pk]
    assert stopped_notifications(recipient=personas.manager).count() == 2


def test_a_late_vend_from_before_the_silence_does_not_end_it(personas, selling):
    norms = SalesNorms()
    check_stopped_selling(now=LAST_SALE + timedelta(hours=4), norms=norms)
    sell_once(selling, LAST_SALE - timedelta(minutes=5), "late")
    assert selling.last_sale_at == LAST_SALE
    check_stopped_selling(now=LAST_SALE + timedelta(hours=5), norms=SalesNorms())
    assert stopped_notifications(recipient=personas.manager).count() == 1


def test_a_silence_within_the_usual_gap_is_normal(personas, selling):
    assert check_stopped_selling(now=LAST_SALE + 2 * PACE, norms=SalesNorms()) == []
    assert not stopped_notifications().exists()


@pytest.mark.parametrize("status", [MachineStatus.OFFLINE, MachineStatus.MAINTENANCE,
                                    MachineStatus.ERROR])
def test_a_machine_not_online_is_not_judged(personas, selling, status):
    Machine.objects.filter(pk=selling.pk).update(status=status)
    assert check_stopped_selling(now=LAST_SALE + timedelta(hours=5), norms=SalesNorms()) == []
    assert not stopped_notifications().exists()


def test_a_machine_with_too_little_history_is_not_judged(personas):
    sell(personas.machine, until=LAST_SALE, days=3)
    assert check_stopped_selling(now=LAST_SALE + timedelta(days=2), norms=SalesNorms()) == []
    assert not stopped_notifications().exists()


def test_a_machine_that_never_sold_is_not_judged(personas):
    assert personas.machine.last_sale_at is None
    assert check_stopped_selling(now=timezone.now(), norms=SalesNorms()) == []


def test_the_database_keeps_one_notification_per_episode_and_recipient(personas):
    key = episode_key(personas.machine.pk, LAST_SALE)
    make_notification(personas.manager, personas.acme, dedup_key=key)
    make_notification(personas.viewer, personas.acme, dedup_key=key)
    make_notification(personas.manager, personas.acme)  # no key: no limit
    make_notification(personas.manager, personas.acme)
    with pytest.raises(IntegrityError):
        make_notification(personas.manager, personas.acme, dedup_key=key)


def test_a_sweep_over_a_fleet_costs_a_few_queries_once_norms_are_known(
        personas, django_assert_max_num_queries):
    machines = [personas.machine] + [
        Machine.objects.create(organization=personas.acme, serial_number=f"FLEET-{i}",
                               name=f"Fleet {i}", status=MachineStatus.ONLINE)
        for i in range(5)]
    for index, machine in enumerate(machines):
        sell(machine, until=LAST_SALE, every=timedelta(minutes=20), prefix=f"m{index}")
    norms = SalesNorms()
    check_stopped_selling(now=LAST_SALE + timedelta(minutes=35), norms=norms)  # learns norms
    with django_assert_max_num_queries(1):  # the candidates, nothing per machine
        assert check_stopped_selling(now=LAST_SALE + timedelta(minutes=38), norms=norms) == []


def test_a_sweep_learns_norms_for_a_bounded_time_longest_silences_first(personas):
    machines = [personas.machine] + [
        Machine.objects.create(organization=personas.acme, serial_number=f"SLOW-{i}",
                               name=f"Slow {i}", status=MachineStatus.ONLINE)
        for i in range(2)]
    for index, machine in enumerate(machines):  # the last one fell silent first
        sell(machine, until=LAST_SALE - timedelta(hours=index), prefix=f"m{index}")
    norms, now = SalesNorms(), LAST_SALE + timedelta(hours=4)
    sweeps = [[s.machine.pk for s in check_stopped_selling(now=now, norms=norms,
                                                            norms_seconds=0)]
              for _ in range(4)]
    assert sweeps == [[machines[2].pk], [machines[1].pk], [machines[0].pk], []]


def test_the_watchdog_sweep_runs_the_check(personas):
    now = timezone.now()
    sell(personas.machine, until=now - timedelta(hours=3, minutes=10))
    Machine.objects.filter(pk=personas.machine.pk).update(last_seen_at=now)  # online
    check_silent_machines(now=now)
    assert stopped_notifications(recipient=personas.manager).count() == 1
    call_command("watch_machines", "--once", stdout=io.StringIO())
    assert stopped_notifications(recipient=personas.manager).count() == 1
