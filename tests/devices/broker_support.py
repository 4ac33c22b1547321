"""A device on the private broker, as the broker tests see it: a paho MQTT 5 client whose
every answer (CONNACK, SUBACK, PUBACK reason codes, a disconnection, a message) is kept."""

from __future__ import annotations

import queue
import threading
import uuid

import paho.mqtt.client as mqtt

WAIT = 5.0


class Device:
    #: Devices connected and not closed yet: the devices' conftest closes what a test left
    #: open, whose network thread would otherwise retry a stopped broker for the rest of the
    #: run (and sleep through `time.sleep`, which other tests may be watching).
    still_open: set[Device] = set()

    def __init__(self, broker, username: str, password: str) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"test-{username}-{uuid.uuid4().hex[:8]}")
        self.client.username_pw_set(username, password)
        self.broker = broker
        self.connack = None
        self.connected, self.disconnected = threading.Event(), threading.Event()
        self.messages: queue.Queue = queue.Queue()
        self._acks: dict[int, tuple[threading.Event, list]] = {}
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda c, u, flags, rc, p: self.disconnected.set()
        self.client.on_message = lambda c, u, message: self.messages.put(message)
        self.client.on_publish = lambda c, u, mid, rc, p: self._answered(mid, rc)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._answered(mid, codes)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code
        self.connected.set()

    def _answered(self, mid: int, answer) -> None:
        event, box = self._acks.setdefault(mid, (threading.Event(), []))
        box.append(answer)
        event.set()

    def _wait_for(self, mid: int):
        event, box = self._acks.setdefault(mid, (threading.Event(), []))
        assert event.wait(WAIT), "the broker did not answer"
        return box[0]

    def connect(self) -> bool:
        """True when the broker accepted the credentials."""
        self.client.connect(self.broker.host, self.broker.port, keepalive=10)
        self.client.loop_start()
        Device.still_open.add(self)
        assert self.connected.wait(WAIT), "no CONNACK"
        if self.connack.is_failure:
            self.close()
            return False
        return True

    def publish(self, topic: str, payload: bytes = b"{}"):
        """The PUBACK's reason code (QoS 1)."""
        return self._wait_for(self.client.publish(topic, payload, qos=1).mid)

    def subscribe(self, topic: str):
        """The SUBACK's reason code for `topic`."""
        result, mid = self.client.subscribe(topic, qos=1)
        return self._wait_for(mid)[0]

    def next_message(self, timeout: float = WAIT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        Device.still_open.discard(self)


def service(broker, account) -> Device:
    """A connected client of a service account (the worker's, the server's)."""
    device = Device(broker, account.username, account.password)
    assert device.connect()
    return device
