"""manage.py prune_vends: vends older than SALES_VEND_RETENTION_DAYS go with their keys
(old days dropped whole on PostgreSQL, the boundary day row by row); the daily rollups the
reports read stay, and so do the other organization's recent vends."""

from __future__ import annotations

import io
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from sales.models import DailySales, Vend, VendKey
from sales.partitions import VENDS
from tests.conftest import require_postgresql

pytestmark = pytest.mark.django_db


def make_vend(machine, transaction_id: str, at) -> Vend:
    VendKey.objects.create(machine=machine, transaction_id=transaction_id, timestamp=at)
    return Vend.objects.create(machine=machine, transaction_id=transaction_id, selection="1",
                               price=15000, payment_method="cash", timestamp=at)


@pytest.fixture
def history(personas, settings):
    """Vends of acme's machine 1, 10, 29 and 31, 45 days ago; the rival's 31 days ago; a
    rollup of an old day. Kept: 30 days."""
    settings.SALES_VEND_RETENTION_DAYS = 30
    now = timezone.now()
    if VENDS.is_partitioned():
        VENDS.create_day_partitions([(now - timedelta(days=n)).astimezone(UTC).date()
                                     for n in (29, 30, 31, 45)])
    for days in (1, 10, 29, 31, 45):
        make_vend(personas.machine, f"acme-{days}", now - timedelta(days=days))
    make_vend(personas.rival_machine, "rival-31", now - timedelta(days=31))
    DailySales.objects.create(organization=personas.acme, machine=personas.machine,
                              payment_method="cash", day=(now - timedelta(days=45)).date(),
                              vends=1, revenue=15000)
    with connection.cursor() as cursor:
        # The deferred foreign-key checks of the rows made above, in this test's
        # transaction, would forbid a DROP; prune_vends itself runs in a fresh one.
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return now


def test_old_vends_and_their_keys_go_and_the_rollups_stay(history):
    out = io.StringIO()
    call_command("prune_vends", "--batch-size", "1", stdout=out)
    kept = ["acme-1", "acme-10", "acme-29"]
    assert sorted(Vend.objects.values_list("transaction_id", flat=True)) == kept
    assert sorted(VendKey.objects.values_list("transaction_id", flat=True)) == kept
    assert DailySales.objects.count() == 1
    assert "deleted 3 vend keys" in out.getvalue()
    assert "so far" in out.getvalue()  # progress per batch
    assert "pruned" in out.getvalue()


def test_on_postgresql_the_old_days_are_dropped_whole(history):
    require_postgresql("partitioning is PostgreSQL's")
    days = {n: (history - timedelta(days=n)).astimezone(UTC).date() for n in (29, 30, 31, 45)}
    out = io.StringIO()
    call_command("prune_vends", stdout=out)
    partitions = VENDS.partitions()
    assert VENDS.partition_name(days[45]) not in partitions
    assert VENDS.partition_name(days[31]) not in partitions
    assert VENDS.partition_name(days[30]) in partitions  # the boundary day, pruned by row
    assert "dropped " in out.getvalue() and "day partitions (about" in out.getvalue()


def test_a_dry_run_counts_and_deletes_nothing(history):
    out = io.StringIO()
    call_command("prune_vends", "--dry-run", stdout=out)
    assert Vend.objects.count() == 6 and VendKey.objects.count() == 6
    assert "would delete" in out.getvalue() and "3 vend keys" in out.getvalue()


def test_the_days_option_overrides_the_setting_and_bad_values_are_refused(history):
    call_command("prune_vends", "--days", "5", stdout=io.StringIO())
    assert list(Vend.objects.values_list("transaction_id", flat=True)) == ["acme-1"]
    with pytest.raises(CommandError, match="--days and --batch-size must be at least 1"):
        call_command("prune_vends", "--days", "0", stdout=io.StringIO())


def test_a_pruned_vend_sent_again_is_refused_not_counted_twice(history, personas, device):
    from tests.sales.conftest import post_vends, vend_body

    call_command("prune_vends", stdout=io.StringIO())
    again = vend_body(personas.machine, "acme-31", at=history - timedelta(days=31))
    response = post_vends(device, again)
    assert response.status_code == 400
    assert response.json() == {
        "timestamp": ["Older than the 30 days vends are kept: check the device clock."]}
    assert not Vend.objects.filter(transaction_id="acme-31").exists()

