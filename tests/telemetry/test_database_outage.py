"""PostgreSQL unavailable: ingestion answers 503 with a retry hint and stores nothing;
websockets stay up.

The live-server tests reach PostgreSQL through a TCP proxy of the test's own, which can
refuse connections (the database is "down") and accept them again.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection

from telemetry import applying
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests import live
from tests.conftest import require_postgresql
from tests.live import LiveServer, free_port
from tests.realtime.conftest import token_for
from tests.realtime.product import Gateway, publish, raw_client
from tests.realtime.wire import engine_websocket, recv_skipping_pings
from tests.telemetry.conftest import reading_body

# -- in process: nothing half-written -------------------------------------------------------


@pytest.mark.django_db
def test_a_database_failure_inside_the_ingest_transaction_rolls_back_and_answers_503(
        personas, device, monkeypatch):
    def lose_the_database(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(applying, "judge", lose_the_database)  # after the readings' INSERT
    response = device.post("/api/v1/telemetry/", reading_body(personas.machine), format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"
    assert not TelemetryReading.objects.exists()  # the insert was rolled back
    personas.machine.refresh_from_db()
    assert personas.machine.last_seen_at is None


# -- a live server whose database goes away ---------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`; `cut()` closes every connection and refuses
    new ones until `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass


@pytest.fixture
def database_proxy(transactional_db):
    require_postgresql()
    settings = connection.settings_dict
    proxy = TcpProxy((settings.get("HOST") or "127.0.0.1", int(settings.get("PORT") or 5432)))
    proxy.restore()
    yield proxy
    proxy.cut()


@pytest.fixture
def flaky_db_server(database_proxy, personas, redis_url):
    url = live.test_database_url().replace(
        f":{connection.settings_dict.get('PORT') or 5432}/", f":{database_proxy.port}/")
    assert str(database_proxy.port) in url
    # The raw test client answers pings only while the test reads from it: requests must not
    # wait long for the (unreachable) database, and the ping timeout leaves room for the
    # steps between two reads (a server that closed sockets on a database outage would still
    # close this one: the test spans several ping rounds).
    with LiveServer(env={"DATABASE_URL": url, "DB_CONN_MAX_AGE": "0", "DB_POOL_TIMEOUT": "0.5",
                         "REALTIME_PING_INTERVAL_MS": "300",
                         "REALTIME_PING_TIMEOUT_MS": "5000"}) as server:
        gateway = Gateway(server, personas)
        gateway.tokens["operator"] = token_for(personas.operator)
        gateway.tokens["device"] = issue_device_key(machine=personas.machine).plaintext
        yield gateway, database_proxy


def stored_readings() -> int:
    try:
        return TelemetryReading.objects.count()
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.redis
async def test_ingest_answers_503_while_the_database_is_down_and_sockets_stay_up(
        flaky_db_server):
    gateway, database = flaky_db_server
    machine = gateway.people.machine
    headers = {"Authorization": f"Device {gateway.tokens['device']}"}
    at = datetime.now(UTC) - timedelta(minutes=1)
    room = f"machine:{machine.id}"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http, \
            raw_client(gateway, gateway.tokens["operator"]) as client:
        assert (await client.subscribe(room))["event"] == "subscribed"

        database.cut()
        response = await http.post("/api/v1/telemetry/", headers=headers,
                                   json=reading_body(machine, at=at))
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        assert response.json()["code"] == "database_unavailable"
        assert await sync_to_async(stored_readings, thread_sensitive=False)() == 0

        # The connected socket lives on (it answers pings every 300 ms meanwhile) and still
        # gets events: they do not need the database.
        await client.assert_no_event(1.5)
        await publish(room, "machine:status", {"machineId": str(machine.id), "status": "error"})
        assert await client.next_event() == ["machine:status", {"machineId": str(machine.id),
                                                                "status": "error"}]
        # A new handshake works; an authenticated CONNECT is refused with a clear message.
        polling = await http.get("/socket.io/?EIO=4&transport=polling")
        assert polling.status_code == 200 and polling.text.startswith('0{"sid":')
        async with engine_websocket(gateway.url) as (ws, _):
            await ws.send(f'40{{"token":"{gateway.tokens["operator"]}"}}')
            assert await recv_skipping_pings(ws) == (
                '44{"message":"Service temporarily unavailable, try again"}')

        database.restore()
        # The device retries, as told by Retry-After (here without waiting that long): the
        # pool reconnects on a backoff of its own (psycopg_pool: 1 s, doubling), so the
        # first retries may still get 503, and none of them stores or publishes anything.
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            response = await http.post("/api/v1/telemetry/", headers=headers,
                                       json=reading_body(machine, at=at))
            if response.status_code != 503 or asyncio.get_running_loop().time() > deadline:
                break
            assert response.json()["code"] == "database_unavailable"
            await client.assert_no_event(0.25)  # nothing published; pings answered
        assert response.status_code == 201, response.text
        assert await sync_to_async(stored_readings, thread_sensitive=False)() == 1
        telemetry = await client.next_event()
        assert telemetry[0] == "machine:telemetry"

    assert gateway.server.process.poll() is None
    log = gateway.server.log()
    assert "answering 503" in log and "Traceback" not in log, log[-4000:]


@pytest.mark.postgres
def test_a_server_started_without_its_database_answers_ingest_with_503(transactional_db,
                                                                         personas):
    require_postgresql()
    key = issue_device_key(machine=personas.machine).plaintext  # well formed: looked up
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/vendhub"
    with LiveServer(env={"DATABASE_URL": nowhere}) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            response = http.post("/api/v1/telemetry/", json=reading_body(personas.machine),
                                 headers={"Authorization": f"Device {key}"})
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            # The realtime endpoint still handshakes.
            assert http.get("/socket.io/?EIO=4&transport=polling").status_code == 200
        assert server.process.poll() is None
