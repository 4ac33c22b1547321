"""On PostgreSQL the vends table is partitioned by UTC day, and a vend's idempotency lives in
its key (sales.models.VendKey): a retried vend is a duplicate whatever day it claims, two
machines (two organizations) may use one transaction id, a vend older than the retention
is refused naming its field, and history reads touch only the days in range."""

from __future__ import annotations

import io
import re
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from sales.models import Vend, VendKey
from sales.partitions import VENDS
from telemetry.device_keys import issue_device_key
from tests.conftest import require_postgresql
from tests.sales.conftest import device_client, post_vends, vend_body
from vendhub.partitioning import day_start

pytestmark = pytest.mark.django_db


def where_vends_are() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text, count(*) FROM {VENDS.table} "
                       "GROUP BY 1")
        return dict(cursor.fetchall())


def test_the_vends_table_is_partitioned_with_days_ahead_and_a_default():
    require_postgresql("partitioning is PostgreSQL's")
    assert VENDS.is_partitioned()
    today = timezone.now().astimezone(UTC).date()
    days = VENDS.partition_days()
    assert today in days and today + timedelta(days=14) in days
    assert VENDS.default_partition in VENDS.partitions()
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, VENDS.table)
    primary = next(c for c in constraints.values() if c["primary_key"])
    assert primary["columns"] == ["id", "timestamp"]


def test_a_vend_lands_in_its_days_partition_and_a_retry_dated_another_day_is_a_duplicate(
        personas, planogram, device):
    require_postgresql("partitioning is PostgreSQL's")
    now = timezone.now()
    first = post_vends(device, vend_body(personas.machine, "t-9", at=now))
    # The same transaction, re-sent by a device whose clock moved: another day's partition,
    # where no unique index of the first day's partition could see it.
    retry = post_vends(device, vend_body(personas.machine, "t-9", at=now - timedelta(days=2)))
    assert (first.status_code, first.json()["accepted"]) == (201, 1)
    assert (retry.status_code, retry.json()["duplicates"]) == (200, 1)
    assert where_vends_are() == {VENDS.partition_name(now.astimezone(UTC).date()): 1}
    key = VendKey.objects.get()
    assert (key.machine_id, key.transaction_id, key.timestamp) == (
        personas.machine.pk, "t-9", Vend.objects.get().timestamp)


def test_two_organizations_machines_may_share_a_transaction_id(personas, planogram, device):
    rival = device_client(issue_device_key(machine=personas.rival_machine).plaintext)
    for client, machine in ((device, personas.machine), (rival, personas.rival_machine)):
        assert post_vends(client, vend_body(machine, "42")).json()["accepted"] == 1
    assert sorted(VendKey.objects.values_list("machine__organization__slug", flat=True)) == \
        sorted([personas.acme.slug, personas.rival_machine.organization.slug])
    assert Vend.objects.count() == 2


def test_a_vend_older_than_the_retention_is_400_naming_it_and_claims_no_key(
        personas, planogram, device, settings):
    settings.SALES_VEND_RETENTION_DAYS = 30
    old = vend_body(personas.machine, "old", at=timezone.now() - timedelta(days=31))
    response = post_vends(device, [vend_body(personas.machine, "new"), old])
    assert response.status_code == 400
    assert response.json()["[1].timestamp"] == [
        "Older than the 30 days vends are kept: check the device clock."]
    assert not Vend.objects.exists() and not VendKey.objects.exists()
    inside = vend_body(personas.machine, "old", at=timezone.now() - timedelta(days=29))
    assert post_vends(device, inside).status_code == 201


def scanned(sql: str, params) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    return set(re.findall(rf"on ({VENDS.table}_\w+)", plan))


def test_reads_of_a_time_range_touch_only_its_days(personas):
    """The forecasts' hourly sales and the stopped-selling history read vends by range."""
    require_postgresql("EXPLAIN plans are PostgreSQL's")
    day = timezone.now().astimezone(UTC).date() - timedelta(days=2)
    since = VENDS.partition_name(day)
    start = day_start(day)
    queryset = Vend.objects.filter(machine=personas.machine, timestamp__gte=start,
                                   timestamp__lt=start + timedelta(days=1))
    sql, params = queryset.query.sql_with_params()
    assert scanned(sql, params) == {since}
    two_days = Vend.objects.filter(machine=personas.machine, timestamp__gte=start,
                                   timestamp__lt=start + timedelta(days=2))
    sql, params = two_days.query.sql_with_params()
    assert scanned(sql, params) == {since, VENDS.partition_name(day + timedelta(days=1))}


def test_deleting_a_machine_deletes_its_vends_and_keys_only(personas, planogram, device):
    rival = device_client(issue_device_key(machine=personas.rival_machine).plaintext)
    post_vends(device, vend_body(personas.machine, "1"))
    post_vends(rival, vend_body(personas.rival_machine, "1"))
    personas.machine.delete()
    assert list(VendKey.objects.values_list("machine", flat=True)) == [
        personas.rival_machine.pk]
    assert list(Vend.objects.values_list("machine", flat=True)) == [personas.rival_machine.pk]


def test_create_partitions_covers_the_vends_too():
    require_postgresql("partitioning is PostgreSQL's")
    out = io.StringIO()
    call_command("create_partitions", "--ahead", "30", stdout=out)
    ahead = timezone.now().astimezone(UTC).date() + timedelta(days=30)
    assert f"created {VENDS.partition_name(ahead)}" in out.getvalue()
    assert "sales_vend: " in out.getvalue() and "telemetry_telemetryreading: " in out.getvalue()
