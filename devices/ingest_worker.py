"""The MQTT ingestion worker (`manage.py mqtt_ingest`): device messages in, database, acks out.

It connects to `MQTT_URL` with MQTT 5 and a persistent session (clean start off, a session
expiry, a client id stable per host and `--name`), and subscribes with QoS 1 to the shared
subscriptions of the device → server topics (`devices.topics.shared_subscription`): the
broker splits the devices' messages between the running workers. Messages are stored in
batches (`devices.ingest_batch.store_batch`: the first message and whatever else has
arrived, up to `batch_size`; batches grow by themselves under load, while the previous one
is stored), the telemetry of many machines in one transaction.

A message is acknowledged to the broker (PUBACK) only after its batch committed: a worker
that dies before that has its messages redelivered to its session, and the services'
idempotency makes a redelivery of something already stored harmless. Each message also gets
its answer on the device's `ack` topic (accepted / duplicates, or the HTTP-style field
errors).

Why paho-mqtt, in its own network thread, rather than an asyncio client: acknowledging
after the commit needs manual acknowledgements, which paho-mqtt 2 has (`manual_ack=True`,
`Client.ack`) and aiomqtt 2.5 does not expose (only through its private paho client); and
the ingestion services are synchronous Django ORM code, which an asyncio client would have
to hand to a thread for every batch anyway. Here paho's thread receives, reconnects with a
capped backoff and sends; this module's thread stores and acknowledges.

The broker delivers the messages of a lost connection again on the next one, with packet
ids of that new connection: an acknowledgement is sent only on the connection a message
came in on (`Inbound.generation`), never for a reused id of another.

A dead worker's share. Mosquitto 2.0.11 keeps a disconnected member of a shared
subscription in the group while its session lasts: its share of the devices' messages is
queued in that session, and when the session ends (expires, or is ended) those messages and
the ones it had been sent unacknowledged are dropped, never handed to another member
(measured: with a session expiry of 0, a killed subscriber's 50 in-flight and queued
messages were lost and the rest went to the live one; with 2 s, also everything routed to
it during those 2 s). A short session expiry therefore moves the share quickly but loses
messages the broker had already PUBACKed to the devices, which do not send them again. So
sessions stay long (`session_expiry`), and a live worker takes a dead one's session over:
a worker whose heartbeat is older than `adopt_after` while its last one said it was
connected (SIGKILL, a lost host; a stopped worker says it is not) is claimed by one live
worker (a conditional UPDATE of its IngestWorker row), which connects with the dead
worker's client id, stores what the session held (the unacknowledged ones again, which
idempotency answers as duplicates when they had committed), leaves the share group and ends
the session. The price: the dead worker's share waits `adopt_after` (3 heartbeats, 15 s by
default) plus the drain; a worker stopped on purpose without `--retire` keeps its share
waiting for its own restart, and a worker that was only hung is pushed off its session
(it reconnects and resumes; what it then commits again is answered as duplicates).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import orjson
import paho.mqtt.client as mqtt
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices import topics
from devices.broker import MqttAddress
from devices.ingest_adoption import ADOPTION_CONNECT_SECONDS, adopt_dead_workers
from devices.ingest_batch import store_batch
from devices.ingest_messages import Inbound, MachineDirectory, Outcome
from devices.models import IngestWorker
from devices.worker_health import HEARTBEAT_SECONDS, STALE_AFTER_HEARTBEATS

logger = logging.getLogger(__name__)

#: Reconnection backoff of the network thread, seconds: doubled per failure up to the cap.
RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS = 1, 30
#: The device → server kinds stored here (a device's command replies are the commands
#: publisher's: devices/publisher.py).
INGESTED = ("telemetry", "sales", "audit")
#: Seconds without a message from the broker after which a retiring worker has been sent
#: everything its session held.
QUIET_SECONDS = 0.5
#: Backoff of a batch whose transaction failed (the database down), seconds.
RETRY_MIN_SECONDS, RETRY_MAX_SECONDS = 0.5, 30.0


@dataclass(frozen=True)
class WorkerOptions:
    url: str
    name: str = "ingest"
    batch_size: int = 500
    #: Seconds a batch waits for more messages after its first. 0: none. Waiting 50 ms
    #: added 48 ms to a reading's way to the dashboards (p50 65 -> 17 ms in the MQTT bench)
    #: and no throughput (1,545 and 1,305 readings/s, with HTTP 15,142 and 12,309 in the
    #: same runs): storing a batch takes long enough for the next one to gather.
    batch_window: float = 0.0
    heartbeat: float = HEARTBEAT_SECONDS
    #: How long the broker keeps the worker's session (subscriptions and unacknowledged
    #: messages) after a disconnect; a restarted worker of the same name takes it over.
    session_expiry: int = 3600
    keepalive: int = 30
    #: On stop, leave the share group for good: unsubscribe, store what is still arriving,
    #: and end the session, so that the broker stops keeping a share of the devices'
    #: messages for this worker. Without it a stopped worker's session (and its share of
    #: the messages, queued) waits for the next worker of the same name.
    retire: bool = False
    #: Seconds a worker may go without a heartbeat while it said it was connected (killed,
    #: its host lost) before a live worker takes its session over and drains it (None: as
    #: many as the health page waits before calling it stale; 0: never).
    adopt_after: float | None = None
    #: Tests only: seconds the batch's transaction stays open before its commit.
    pause_before_commit: float = 0.0

    @property
    def adoption_delay(self) -> float:
        if self.adopt_after is None:
            return STALE_AFTER_HEARTBEATS * self.heartbeat
        return self.adopt_after


def worker_id(name: str, hostname: str | None = None) -> str:
    """The worker's name on the health page; its MQTT client id is derived from it, so that
    a restarted worker resumes its own persistent session."""
    return f"{hostname or socket.gethostname()}-{name}"[:100]


def _correlation(message: mqtt.MQTTMessage) -> str | None:
    """The device's id for this message: MQTT 5 correlation data, else a `correlation` user
    property (clients that cannot set binary correlation data)."""
    properties = getattr(message, "properties", None)
    data = getattr(properties, "CorrelationData", None)
    if data is not None:
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(data).hex()
    for key, value in getattr(properties, "UserProperty", None) or ():
        if key == "correlation":
            return value
    return None


class Ingester:
    """One worker: `run()` blocks until `stop()` (from a signal handler or another thread)."""

    def __init__(self, options: WorkerOptions, *, hostname: str | None = None,
                 adopting: str | None = None) -> None:
        self.options = options
        self.address = MqttAddress.parse(options.url)
        self.hostname = hostname or socket.gethostname()
        #: The dead worker whose session this one drains (then ends), if it is an adopter.
        self.adopting = adopting
        self.id = adopting or worker_id(options.name, self.hostname)
        self.last_received = time.monotonic()
        #: Whether the session was ended after everything in it was stored (retire).
        self.retired = False
        self.inbox: queue.Queue[Inbound] = queue.Queue()
        self.directory = MachineDirectory()
        self.stopping = threading.Event()
        self.connected = False
        #: Bumped on every (re)connection: packet ids are only valid on their connection.
        self.generation = 0
        self.last_error = ""
        self.messages = 0
        self.last_message_at: datetime | None = None
        self.lag_seconds = 0.0
        self.started_at = timezone.now()
        self._next_heartbeat = 0.0
        #: `connected` as the last heartbeat recorded it.
        self._recorded: bool | None = None
        self._adoptions: list[threading.Thread] = []
        self.client = self._make_client()

    # -- the network thread's side -------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"vendhub-{self.id}",
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
        # Answers go out at QoS 1 too; a batch's worth may wait for their PUBACKs at once.
        client.max_inflight_messages_set(max(20, self.options.batch_size))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            logger.warning("mqtt ingest %s: %s", self.id, self.last_error)
            return
        self.generation += 1
        self.connected = True
        if self.adopting:  # draining the session, not joining the share group
            return
        # Subscribing again is harmless when the session kept the subscriptions, and needed
        # when the broker lost them (restarted without persistence).
        client.subscribe([(topics.shared_subscription(kind), SubscribeOptions(qos=1))
                          for kind in INGESTED])
        logger.info("mqtt ingest %s: connected to %s:%s (session present: %s)", self.id,
                    self.address.host, self.address.port, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected = False
        if self.adopting and not self.stopping.is_set():
            # The dead worker came back and took its session: it is its again.
            logger.warning("mqtt ingest %s: adoption ended by the broker (%s)", self.id,
                           reason_code)
            self.stop()
            client.disconnect()  # no reconnection: that would take the session back
            return
        if not self.stopping.is_set():
            self.last_error = f"disconnected from the broker: {reason_code}"
            logger.warning("mqtt ingest %s: %s; reconnecting", self.id, self.last_error)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            serial, kind = topics.parse_topic(message.topic)
        except topics.BadTopic:
            serial, kind = "", ""
        self.last_received = time.monotonic()
        if kind not in INGESTED:  # not ours to store: nothing to redeliver either
            logger.warning("mqtt ingest %s: ignoring a message on %r", self.id, message.topic)
            client.ack(message.mid, message.qos)
            return
        self.inbox.put(Inbound(serial=serial, kind=kind, payload=message.payload,
                               received_at=timezone.now(), correlation=_correlation(message),
                               mid=message.mid, qos=message.qos, generation=self.generation))

    # -- the storing thread's side -------------------------------------------------------

    def run(self) -> None:
        """The storing loop, in a thread of an event loop kept for the worker's life: the
        broadcasts each commit sends (`async_to_sync` in realtime.broadcast) then run on that
        loop and reuse its channel-layer connections, instead of a new loop and a new Redis
        connection per event (~6 ms an event against ~0.5 ms: with one event per machine of
        a batch, most of a batch's time)."""

        async def storing() -> None:
            await sync_to_async(self._run, thread_sensitive=False)()

        asyncio.run(storing())

    def _run(self) -> None:
        a = self.address
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry
        # How many unacknowledged messages the broker may send at once: a batch's worth,
        # or batches would be cut short by the broker's default of 20.
        properties.ReceiveMaximum = min(65535, max(20, 2 * self.options.batch_size))
        self.client.connect_async(a.host, a.port, keepalive=self.options.keepalive,
                                  clean_start=False, properties=properties)
        self.client.loop_start()
        logger.info("mqtt ingest %s: started (client id %s)", self.id, self.client._client_id)
        try:
            while not self.stopping.is_set():
                batch = self._take_batch()
                # Before the batch: a worker that dies in its first batch has said that it
                # was connected (what a live worker looks for to take its session over).
                self._heartbeat_if_due()
                if batch:
                    self._process(batch)
        finally:
            for adoption in self._adoptions:  # each drains and ends its session first
                adoption.join(ADOPTION_CONNECT_SECONDS)
            ended = self.retired = bool(self.options.retire and self.connected
                                        and self._retire())
            properties = None
            if ended:
                properties = Properties(PacketTypes.DISCONNECT)
                properties.SessionExpiryInterval = 0
            self.client.disconnect(properties=properties)
            self.client.loop_stop()
            self.connected = False
            self._heartbeat()
            connection.close()

    def stop(self) -> None:
        self.stopping.set()

    def _take_batch(self) -> list[Inbound]:
        try:
            first = self.inbox.get(timeout=min(0.5, self.options.heartbeat))
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.options.batch_window
        while len(batch) < self.options.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.inbox.get(timeout=remaining) if remaining > 0
                             else self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _retire(self) -> bool:
        """Unsubscribe, then store and acknowledge whatever the broker had already sent;
        whether everything received was acknowledged (then the session may end)."""
        unsubscribed = threading.Event()
        self.client.on_unsubscribe = lambda *args: unsubscribed.set()
        self.client.unsubscribe([topics.shared_subscription(kind) for kind in INGESTED])
        if not unsubscribed.wait(5):
            logger.warning("mqtt ingest %s: no answer to the unsubscribe; keeping the "
                           "session", self.id)
            return False
        self.last_received = time.monotonic()
        # Until the broker has been quiet for a while: a session's backlog comes a receive
        # maximum at a time, the next part once the previous one is acknowledged.
        while time.monotonic() - self.last_received < QUIET_SECONDS or not self.inbox.empty():
            batch = self._take_batch()
            if batch and not self._process(batch):
                return False
        logger.info("mqtt ingest %s: retired, session ended", self.id)
        return True

    def _process(self, batch: list[Inbound]) -> bool:
        """Store, answer and acknowledge `batch`; False if it could not be stored before
        the worker was asked to stop."""
        logger.info("mqtt ingest %s: batch of %d received", self.id, len(batch))
        delay = RETRY_MIN_SECONDS
        stored: list[Outcome | None] = [None] * len(batch)
        while True:
            try:
                outcomes = store_batch(batch, self.directory, outcomes=stored,
                                       pause_before_commit=self.options.pause_before_commit)
                break
            except DatabaseError as exc:
                # Nothing of the batch is acknowledged: what did not commit is retried here
                # (what did keeps its answer), or all redelivered to the session if the
                # worker stops meanwhile (idempotency answers the committed as duplicates).
                self.last_error = f"database: {exc}"
                logger.warning("mqtt ingest %s: batch of %d not stored (%s); retrying in "
                               "%.1f s", self.id, len(batch), exc, delay)
                connection.close()
                if self.stopping.wait(delay):
                    return False
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        committed = timezone.now()
        for message, outcome in zip(batch, outcomes, strict=True):
            self._answer(message, outcome)
        self.messages += len(batch)
        self.last_message_at = committed
        self.lag_seconds = max(
            max(0.0, (committed - (outcome.data_time or message.received_at)).total_seconds())
            for message, outcome in zip(batch, outcomes, strict=True))
        logger.info("mqtt ingest %s: batch of %d committed and acknowledged", self.id,
                    len(batch))
        return True

    def _answer(self, message: Inbound, outcome: Outcome) -> None:
        properties = None
        if message.correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = message.correlation.encode("utf-8")
        self.client.publish(topics.device_topic(message.serial, "ack"),
                            orjson.dumps(outcome.document(message)), qos=1,
                            properties=properties)
        if message.generation == self.generation:
            self.client.ack(message.mid, message.qos)

    def _heartbeat_if_due(self) -> None:
        if time.monotonic() >= self._next_heartbeat or self.connected != self._recorded:
            self._heartbeat()
            if not self.adopting and self.options.adoption_delay > 0:
                self._adoptions = [t for t in self._adoptions if t.is_alive()]
                self._adoptions += adopt_dead_workers(self)

    def _heartbeat(self) -> None:
        self._next_heartbeat = time.monotonic() + self.options.heartbeat
        self._recorded = self.connected
        now = timezone.now()
        state = {"hostname": self.hostname[:200], "pid": os.getpid(),
                 "connected": self.connected, "started_at": self.started_at,
                 "heartbeat_at": now, "last_message_at": self.last_message_at,
                 "lag_seconds": self.lag_seconds, "messages": self.messages,
                 "last_error": self.last_error}
        try:
            IngestWorker.objects.update_or_create(name=self.id, defaults=state)
        except DatabaseError as exc:
            logger.warning("mqtt ingest %s: heartbeat not recorded (%s)", self.id, exc)
            connection.close()
