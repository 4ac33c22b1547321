"""The project's broker (deploy/mosquitto/, devices/broker.py): nobody connects without an
account, and the service accounts get what ingestion and provisioning need, no more."""

from __future__ import annotations

import asyncio
import io
import json

import aiomqtt
import pytest
from django.core.management import call_command

from devices.broker import render_config
from devices.topics import device_topic, shared_subscription

V5 = aiomqtt.ProtocolVersion.V5


def test_the_rendered_configuration_refuses_anonymous_clients_and_persists_sessions(tmp_path):
    config = render_config(port=18830, data_dir=tmp_path)
    lines = {line.strip() for line in config.splitlines() if not line.startswith("#")}
    assert "listener 18830 127.0.0.1" in lines
    assert "allow_anonymous false" in lines
    assert "persistence true" in lines
    assert f"persistence_location {tmp_path}/" in lines
    assert any(line.startswith("plugin ") and "dynamic_security" in line for line in lines)


async def test_an_anonymous_client_is_refused(mqtt_broker):
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, protocol=V5):
            pass


async def test_the_worker_subscribes_to_the_shared_subscriptions_but_not_the_control_api(
        mqtt_broker):
    account = mqtt_broker.worker
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, username=account.username,
                              password=account.password, protocol=V5) as worker:
        granted = await worker.subscribe(shared_subscription("telemetry"), qos=1)
        assert [code.value for code in granted] == [1]
        refused = await worker.subscribe("$CONTROL/dynamic-security/v1/response")
        assert refused[0].is_failure


async def test_the_server_account_publishes_commands_to_any_device(mqtt_broker):
    server, worker = mqtt_broker.server, mqtt_broker.worker
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, username=worker.username,
                              password=worker.password, protocol=V5) as listener, \
            aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, username=server.username,
                           password=server.password, protocol=V5) as publisher:
        await listener.subscribe(device_topic("VH-77", "commands"), qos=1)
        await publisher.publish(device_topic("VH-77", "commands"), b'{"kind": "reboot"}', qos=1)
        async with asyncio.timeout(5):
            message = await anext(aiter(listener.messages))
        assert message.payload == b'{"kind": "reboot"}'


def test_mqtt_broker_prepare_only_writes_the_configuration_and_the_accounts(tmp_path):
    out = io.StringIO()
    call_command("mqtt_broker", "--prepare-only", "--data-dir", str(tmp_path), "--port", "18831",
                 stdout=out)
    assert "MQTT_URL=mqtt://vendhub_server:" in out.getvalue()
    assert "listener 18831 127.0.0.1" in (tmp_path / "mosquitto.conf").read_text()
    document = json.loads((tmp_path / "dynamic-security.json").read_text())
    assert {client["username"] for client in document["clients"]} == {
        "vendhub_server", "vendhub_worker"}
    assert (tmp_path / "accounts.json").stat().st_mode & 0o077 == 0
