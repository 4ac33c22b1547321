"""The commands outbox (devices.publisher.claim_commands): a queued command is claimed by one
publisher at a time, again only after its lease ran out, never once it expired or moved on;
what is published says where, until when and which command; the devices' answers close
them (an acknowledged price is a new planogram version). `mqtt_commands` needs a broker."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from devices.commands import expire_commands, mark_delivered, record_reply
from devices.models import CommandState, MachineCommand
from devices.publisher import LEASE_SECONDS, claim_commands
from tests.sales.conftest import planogram, products  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def queue(machine, user, *, ttl: int = 60, kind: str = "reboot") -> MachineCommand:
    return MachineCommand.objects.create(
        organization=machine.organization, machine=machine, kind=kind, created_by=user,
        expires_at=timezone.now() + timedelta(seconds=ttl))


def test_a_claimed_command_is_not_claimed_again_until_its_lease_ends(personas):
    command = queue(personas.machine, personas.manager)
    now = timezone.now()
    [claimed] = claim_commands(now=now)
    assert claimed.command_id == str(command.pk)
    assert claim_commands(now=now + timedelta(seconds=LEASE_SECONDS - 1)) == []
    # The publisher died before the PUBACK: another one takes it over.
    [again] = claim_commands(now=now + timedelta(seconds=LEASE_SECONDS + 1))
    assert again.command_id == str(command.pk)


def test_the_message_carries_the_topic_the_remaining_ttl_and_the_command(personas):
    command = queue(personas.machine, personas.manager, ttl=90)
    [message] = claim_commands(now=command.expires_at - timedelta(seconds=30.2))
    assert message.topic == f"vendhub/v1/{personas.machine.serial_number}/commands"
    assert message.expiry_seconds == 31  # rounded up: never 0, which means "no expiry"
    assert json.loads(message.payload) == {
        "command": str(command.pk), "kind": "reboot", "params": {},
        "expiresAt": command.expires_at.isoformat().replace("+00:00", "Z")}
    properties = message.properties()
    assert properties.CorrelationData == str(command.pk).encode()
    assert properties.ResponseTopic == f"vendhub/v1/{personas.machine.serial_number}/replies"


def test_expired_delivered_and_answered_commands_are_never_claimed(personas):
    expired = queue(personas.machine, personas.manager, ttl=-1)
    delivered = queue(personas.machine, personas.manager)
    mark_delivered(delivered.pk)
    assert claim_commands() == []
    assert expire_commands() == 1
    expired.refresh_from_db()
    assert expired.state == CommandState.EXPIRED and expired.answered_at is not None


def test_commands_are_claimed_oldest_first_up_to_the_limit(personas):
    first = queue(personas.machine, personas.manager)
    second = queue(personas.rival_machine, personas.stranger)
    assert [m.command_id for m in claim_commands(limit=1)] == [str(first.pk)]
    assert [m.command_id for m in claim_commands(limit=1)] == [str(second.pk)]


def test_an_answer_before_the_puback_still_shows_the_delivery_first(
        personas, django_capture_on_commit_callbacks):
    command = queue(personas.machine, personas.manager)
    with django_capture_on_commit_callbacks(execute=False) as published:
        record_reply(serial=personas.machine.serial_number,
                     payload=json.dumps({"command": str(command.pk), "ok": True}))
    command.refresh_from_db()
    assert command.state == CommandState.ACKNOWLEDGED and command.delivered_at is not None
    assert len(published) == 2  # machine:command delivered, then acknowledged
    assert not mark_delivered(command.pk)  # the late PUBACK changes nothing


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"command": "x", "ok": true}',
                                     b'{"ok": true}', b'{"command": "%s", "ok": "yes"}'])
def test_a_malformed_reply_changes_nothing(personas, payload):
    command = queue(personas.machine, personas.manager)
    if b"%s" in payload:
        payload = payload.replace(b"%s", str(command.pk).encode())
    assert record_reply(serial=personas.machine.serial_number, payload=payload) is None
    command.refresh_from_db()
    assert command.state == CommandState.QUEUED


def test_mqtt_commands_needs_a_broker(settings):
    settings.MQTT_URL = ""
    with pytest.raises(CommandError, match="MQTT_URL"):
        call_command("mqtt_commands")
    with pytest.raises(CommandError, match="mqtt://"):
        call_command("mqtt_commands", url="http://example")


def test_an_acknowledged_price_is_a_new_planogram_version_with_that_price(
        personas, planogram):  # noqa: F811
    from sales.selectors import planogram_at

    command = queue(personas.machine, personas.manager, kind="set_price")
    command.params = {"selection": "A3", "price": 13500}
    command.save(update_fields=["params"])
    record_reply(serial=personas.machine.serial_number,
                 payload=json.dumps({"command": str(command.pk), "ok": True}))
    current = planogram_at(personas.machine)
    assert current.pk != planogram.pk and current.created_by == personas.manager
    prices = {s.code: s.price for s in current.selections.all()}
    assert prices == {"1": 15000, "A3": 13500}
    cappuccino = next(s for s in current.selections.all() if s.code == "1")
    assert sorted(r.grams for r in cappuccino.recipe.all()) == [12, 18]  # recipe kept


def test_a_failed_price_changes_no_planogram(personas, planogram):  # noqa: F811
    from sales.models import Planogram

    command = queue(personas.machine, personas.manager, kind="set_price")
    command.params = {"selection": "A3", "price": 13500}
    command.save(update_fields=["params"])
    record_reply(serial=personas.machine.serial_number,
                 payload=json.dumps({"command": str(command.pk), "ok": False}))
    assert Planogram.objects.filter(machine=personas.machine).count() == 1
