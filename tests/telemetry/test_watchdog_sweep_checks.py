"""Other apps' checks run after every watchdog sweep (sales registers "stopped selling"); a
check that fails is logged and never stops the offline sweep."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import Machine, MachineStatus
from sales.stopped_selling import check_stopped_selling
from telemetry import watchdog

pytestmark = pytest.mark.django_db


def test_sales_registers_its_stopped_selling_check():
    assert check_stopped_selling in watchdog.SWEEP_CHECKS


def test_a_failing_check_is_logged_and_the_sweep_goes_on(personas, monkeypatch, caplog):
    calls = []

    def broken(*, now):
        raise RuntimeError("broken check")

    def recording(*, now):
        calls.append(now)

    monkeypatch.setattr(watchdog, "SWEEP_CHECKS", [])
    watchdog.register_sweep_check(broken)
    watchdog.register_sweep_check(recording)
    watchdog.register_sweep_check(recording)  # once only
    now = timezone.now()
    Machine.objects.filter(pk=personas.machine.pk).update(last_seen_at=now - timedelta(hours=1))
    with caplog.at_level(logging.ERROR, logger="telemetry.watchdog"):
        flipped = watchdog.check_silent_machines(now=now)
    assert personas.machine.pk in {machine.pk for machine in flipped}
    assert Machine.objects.get(pk=personas.machine.pk).status == MachineStatus.OFFLINE
    assert calls == [now]
    assert "broken" in caplog.text and "RuntimeError: broken check" in caplog.text
