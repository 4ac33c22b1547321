"""What the ingestion worker tests share: devices on the private broker, workers in a thread
or in a subprocess, and waiting for the database to show something."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from django.db import connections
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices import topics
from devices.broker import CONTROL_TOPIC
from devices.ingest_worker import INGESTED, Ingester, WorkerOptions
from tests.live import ROOT, test_database_url

WAIT = 15.0


def _connected_client(host: str, port: int, *, client_id: str, username: str,
                      password: str, clean_start: bool = True,
                      session_expiry: int = 0) -> mqtt.Client:
    """A connected paho client; retried while the broker refuses it (an account the
    dynamic-security plugin is still creating)."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry
    deadline = time.monotonic() + WAIT
    while True:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(username, password)
        client.reconnect_delay_set(1, 2)
        answered, refused = threading.Event(), []

        def on_connect(c, u, flags, reason_code, p, answered=answered, refused=refused):
            refused.append(reason_code.is_failure)
            answered.set()

        client.on_connect = on_connect
        client.connect(host, port, keepalive=10, clean_start=clean_start,
                       properties=properties)
        client.loop_start()
        if answered.wait(WAIT) and not refused[0]:
            client.on_connect = None
            return client
        client.loop_stop()
        client.disconnect()
        assert time.monotonic() < deadline, f"{username} could not connect"
        time.sleep(0.1)


def provision_device(broker, serial: str) -> str:
    """The broker account of a machine (username = serial), made over the dynamic-security
    control topic with the server's account; its password."""
    password = uuid.uuid4().hex
    admin = _connected_client(broker.host, broker.port, client_id=f"admin-{uuid.uuid4().hex}",
                              username=broker.server.username,
                              password=broker.server.password)
    # A role of the device's own with its literal topics: Mosquitto 2.0.11's plugin does
    # not substitute `%u` in ACL topics.
    role = f"device-{serial}"
    acls = [{"acltype": "publishClientSend", "topic": topics.device_topic(serial, kind),
             "allow": True} for kind in INGESTED]
    acls += [{"acltype": "subscribePattern", "topic": topics.device_topic(serial, kind),
              "allow": True} for kind in topics.OUTBOUND]
    admin.publish(CONTROL_TOPIC, json.dumps({"commands": [
        {"command": "deleteClient", "username": serial},
        {"command": "deleteRole", "rolename": role},
        {"command": "createRole", "rolename": role, "acls": acls},
        {"command": "createClient", "username": serial, "password": password,
         "roles": [{"rolename": role}]}]}), qos=1).wait_for_publish(WAIT)
    admin.disconnect()
    admin.loop_stop()
    return password


class Device:
    """A machine's MQTT client: publishes its documents, collects the answers on its `ack`
    topic. `persistent`: a session the broker keeps (and QoS 1 publishes paho keeps while
    the broker is away)."""

    def __init__(self, broker, serial: str, password: str, *, persistent: bool = False):
        self.serial = serial
        self.acks: queue.Queue[dict] = queue.Queue()
        self.client = _connected_client(
            broker.host, broker.port, client_id=f"device-{serial}", username=serial,
            password=password, clean_start=not persistent,
            session_expiry=3600 if persistent else 0)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = lambda c, u, m: self.acks.put(json.loads(m.payload))
        self.client.subscribe(topics.device_topic(serial, "ack"), qos=1)
        assert subscribed.wait(WAIT)

    def publish(self, kind: str, payload, *, correlation: str | None = None,
                wait: bool = True) -> mqtt.MQTTMessageInfo:
        properties = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            properties.CorrelationData = correlation.encode()
        if not isinstance(payload, bytes | str):
            payload = json.dumps(payload)
        info = self.client.publish(topics.device_topic(self.serial, kind), payload, qos=1,
                                   properties=properties)
        if wait:
            info.wait_for_publish(WAIT)
        return info

    def next_ack(self, timeout: float = WAIT) -> dict:
        return self.acks.get(timeout=timeout)

    def acks_until(self, count: int, timeout: float = WAIT) -> list[dict]:
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            got.append(self.acks.get(timeout=max(0.01, deadline - time.monotonic())))
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def devices_of(broker, *machines, persistent: bool = False):
    made = [Device(broker, m.serial_number, provision_device(broker, m.serial_number),
                   persistent=persistent) for m in machines]
    try:
        yield made
    finally:
        for device in made:
            device.close()


@contextmanager
def worker_thread(url: str, name: str = "ingest", *, keep_session: bool = False, **options):
    """An Ingester running in a thread of the test process (its own database connection).
    It retires when stopped unless `keep_session`: the session broker is shared by the
    tests, and a stopped worker's session would keep receiving a share of their messages."""
    worker = Ingester(WorkerOptions(url=url, name=name, retire=not keep_session, **options),
                      hostname="test")
    thread = threading.Thread(target=worker.run, name=f"ingest-{name}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not worker.connected:
            assert time.monotonic() < deadline, "the worker did not connect"
            time.sleep(0.02)
        time.sleep(0.2)  # its SUBSCRIBE reaches the broker
        yield worker
    finally:
        worker.stop()
        thread.join(WAIT)
        connections.close_all()


class WorkerProcess:
    """`manage.py mqtt_ingest` in a subprocess on the test database; its log in a file."""

    def __init__(self, url: str, name: str, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        env = {**os.environ, "DATABASE_URL": test_database_url(), "DEBUG": "1",
               "PYTHONUNBUFFERED": "1"}
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "mqtt_ingest", "--url", url, "--name", name,
                 "--heartbeat", "0.5", *args], cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, count: int = 1, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged; log:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def eventually(check, timeout: float = WAIT, interval: float = 0.05):
    """Call `check` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: last {value!r}")
        time.sleep(interval)
