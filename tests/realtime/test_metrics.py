"""Observability: the Prometheus endpoint (format, access control), the counters it shows
moving with connections, publishes, deliveries and ingestion, and the admin health page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from channels.layers import InMemoryChannelLayer
from prometheus_client.parser import text_string_to_metric_families

from realtime import broadcast
from realtime.rooms import group_name
from realtime.server import metrics
from realtime.server.conf import RealtimeConfig
from realtime.server.engine.server import EngineServer
from realtime.server.engine.session import Transport
from realtime.server.hub import Hub
from realtime.views import RateMeter
from telemetry.device_keys import issue_device_key
from tests.factories import make_user
from tests.realtime.doubles import QuietHandler
from tests.realtime.product import publish, raw_client
from tests.realtime.test_hub import Member, eventually
from tests.realtime.test_recovery import wait_parked
from tests.telemetry.conftest import device_client, reading_body

METRIC_NAMES = {
    "vendhub_realtime_connections", "vendhub_realtime_rooms",
    "vendhub_realtime_events_emitted", "vendhub_realtime_frames_delivered",
    "vendhub_realtime_messages_dropped", "vendhub_realtime_recoveries",
    "vendhub_telemetry_readings_ingested", "vendhub_telemetry_ingest_seconds",
}


def value(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


# -- the endpoint ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_served_to_loopback_in_the_prometheus_text_format(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics")  # the test client comes from 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name for f in text_string_to_metric_families(response.content.decode())}
    assert METRIC_NAMES <= families
    samples = scraped(response.content.decode())
    for reason in ("slow_client", "receive_failure", "publish_failure", "history_failure"):
        assert ("vendhub_realtime_messages_dropped_total", (("reason", reason),)) in samples
    for outcome in ("hit", "miss"):
        assert ("vendhub_realtime_recoveries_total", (("outcome", outcome),)) in samples
    for transport in ("polling", "websocket"):
        assert ("vendhub_realtime_connections", (("transport", transport),)) in samples


@pytest.mark.django_db
@pytest.mark.parametrize("remote, headers", [
    ("10.1.2.3", {}),
    ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}),  # relayed by a local proxy
    ("127.0.0.1", {"HTTP_FORWARDED": "for=203.0.113.9"}),
    ("127.0.0.1", {"HTTP_X_REAL_IP": "203.0.113.9"}),
    ("127.0.0.1", {"HTTP_TRUE_CLIENT_IP": "203.0.113.9"}),
    ("127.0.0.1", {"HTTP_CF_CONNECTING_IP": "203.0.113.9"}),
    ("127.0.0.1", {"HTTP_X_CLIENT_IP": "203.0.113.9"}),
    ("127.0.0.1", {"HTTP_FASTLY_CLIENT_IP": "203.0.113.9"}),
    ("127.0.0.1", {"HTTP_X_CLUSTER_CLIENT_IP": "203.0.113.9"}),
    ("127.0.0.1", {"HTTP_X_FORWARDED_HOST": "metrics.example.com"}),
    ("127.0.0.1", {"HTTP_X_FORWARDED_PROTO": "https"}),
    ("::1", {"HTTP_X_REAL_IP": "203.0.113.9"}),
])
def test_without_a_token_only_direct_loopback_clients_may_scrape(client, settings, remote,
                                                                  headers):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR=remote, **headers).status_code == 403


@pytest.mark.django_db
def test_with_a_token_every_scrape_needs_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics-token").status_code \
        == 401
    allowed = client.get("/metrics", REMOTE_ADDR="198.51.100.7",
                         HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert allowed.status_code == 200
    assert b"vendhub_realtime_connections" in allowed.content


@pytest.mark.django_db
def test_metrics_are_read_only(client):
    assert client.post("/metrics").status_code == 405


# -- the counters move ---------------------------------------------------------------------------


async def test_connections_are_counted_by_transport_through_an_upgrade():
    server = EngineServer(config=RealtimeConfig(), handler_factory=QuietHandler)
    polling, websocket = (value("vendhub_realtime_connections", transport=t)
                          for t in ("polling", "websocket"))
    session = await server.open(Transport.POLLING, {})
    assert value("vendhub_realtime_connections", transport="polling") == polling + 1

    async def write(frame) -> None:
        pass

    async def close() -> None:
        pass

    session.begin_upgrade(close)
    session.complete_upgrade(write, close)
    assert value("vendhub_realtime_connections", transport="polling") == polling
    assert value("vendhub_realtime_connections", transport="websocket") == websocket + 1
    session.close("test")
    session.close("twice")  # idempotent: counted once
    await asyncio.sleep(0)
    assert value("vendhub_realtime_connections", transport="websocket") == websocket


async def test_rooms_deliveries_and_drops_are_counted_once_per_frame_not_per_member():
    hub = Hub(InMemoryChannelLayer(), group_name=group_name)
    rooms = value("vendhub_realtime_rooms")
    delivered = value("vendhub_realtime_frames_delivered_total", event="test:metrics")
    dropped = value("vendhub_realtime_messages_dropped_total", reason="slow_client")
    members = [Member(), Member(), Member(accept=False)]
    try:
        for member in members:
            await hub.join(member, "org:metrics")
        assert value("vendhub_realtime_rooms") == rooms + 1
        await hub.publish("org:metrics", '42["test:metrics"]', "test:metrics")
        await eventually(lambda: members[0].frames)
        assert value("vendhub_realtime_frames_delivered_total", event="test:metrics") \
            == delivered + 2
        assert value("vendhub_realtime_messages_dropped_total", reason="slow_client") \
            == dropped + 1
        for member in members:
            await hub.leave(member, "org:metrics")
        assert value("vendhub_realtime_rooms") == rooms
    finally:
        await hub.stop()


async def test_receive_failures_are_counted_as_drops():
    class FlakyLayer(InMemoryChannelLayer):
        failures = 1

        async def receive(self, channel):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("redis went away")
            return await super().receive(channel)

    hub = Hub(FlakyLayer(), group_name=group_name)
    before = value("vendhub_realtime_messages_dropped_total", reason="receive_failure")
    try:
        await hub.join(Member(), "org:flaky")
        await eventually(lambda: hub.layer_recoveries == 1, timeout=2)
        assert value("vendhub_realtime_messages_dropped_total", reason="receive_failure") \
            == before + 1
    finally:
        await hub.stop()


class FakeLayer:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list = []

    async def group_send(self, group, message) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((group, message))


async def test_published_events_are_counted_by_event_and_failed_publishes_as_drops(
        monkeypatch, caplog):
    layer = FakeLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    emitted = value("vendhub_realtime_events_emitted_total", event="test:metrics")
    await broadcast.apublish("org:metrics", "test:metrics", {"n": 1})
    assert value("vendhub_realtime_events_emitted_total", event="test:metrics") == emitted + 1
    assert layer.sent[0][1]["event"] == "test:metrics"

    layer.error = ConnectionError("Error 111 connecting to redis")
    failed = value("vendhub_realtime_messages_dropped_total", reason="publish_failure")
    await broadcast.apublish("org:metrics", "test:metrics", {"n": 2})  # never raises
    assert value("vendhub_realtime_messages_dropped_total", reason="publish_failure") \
        == failed + 1
    assert value("vendhub_realtime_events_emitted_total", event="test:metrics") == emitted + 1
    assert "could not publish test:metrics to org:metrics: ConnectionError" in caplog.text
    assert "Traceback" not in caplog.text  # an outage is one line, not a stack


@pytest.mark.django_db
def test_ingested_readings_and_ingest_latency_are_recorded(personas, device):
    readings = value("vendhub_telemetry_readings_ingested_total")
    requests = value("vendhub_telemetry_ingest_seconds_count")
    start = datetime.now(UTC) - timedelta(minutes=1)
    body = [reading_body(personas.machine, at=start + timedelta(seconds=n)) for n in range(3)]
    assert device.post("/api/v1/telemetry/", body, format="json").status_code == 201
    assert device.post("/api/v1/telemetry/", body, format="json").status_code == 200  # retry
    assert value("vendhub_telemetry_readings_ingested_total") == readings + 3
    assert value("vendhub_telemetry_ingest_seconds_count") == requests + 2
    assert value("vendhub_telemetry_ingest_seconds_sum") > 0


@pytest.fixture
def device(personas):
    return device_client(issue_device_key(machine=personas.machine).plaintext)


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return scraped(response.text)


@pytest.mark.redis
@pytest.mark.postgres
async def test_the_live_server_counts_its_websockets_and_deliveries(gateway):
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        delivered = ("vendhub_realtime_frames_delivered_total", (("event", "test:scrape"),))
        before = await scrape(http)
        room = f"org:{gateway.people.acme.id}"
        async with raw_client(gateway, gateway.tokens["viewer"]) as client:
            assert (await client.subscribe(room))["event"] == "subscribed"
            await publish(room, "test:scrape", 1)
            assert await client.next_event() == ["test:scrape", 1]
            during = await scrape(http)
        assert during[("vendhub_realtime_connections", (("transport", "websocket"),))] >= 1
        assert during[("vendhub_realtime_rooms", ())] >= 1
        assert during[delivered] == before.get(delivered, 0) + 1


@pytest.mark.redis
@pytest.mark.postgres
async def test_the_live_server_counts_recovery_hits_and_misses(gateway, redis_url):
    hits = ("vendhub_realtime_recoveries_total", (("outcome", "hit"),))
    misses = ("vendhub_realtime_recoveries_total", (("outcome", "miss"),))
    token = gateway.tokens["viewer"]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        before = await scrape(http)
        async with raw_client(gateway, token) as client:
            pid = client.pid
        await wait_parked(redis_url, pid)
        async with raw_client(gateway, token, pid=pid) as recovered:
            assert recovered.pid == pid
        async with raw_client(gateway, token, pid="no-such-session") as fresh:
            assert fresh.pid != "no-such-session"
        after = await scrape(http)
    assert after[hits] == before[hits] + 1
    assert after[misses] == before[misses] + 1


# -- the admin health page ----------------------------------------------------------------------


def test_the_ingest_rate_is_readings_per_second_between_two_views_of_the_page():
    meter = RateMeter()
    assert meter.rate(10, clock=lambda: 100.0) is None  # first view: nothing to compare with
    assert meter.rate(30, clock=lambda: 102.0) == 10.0
    assert meter.rate(20, clock=lambda: 103.0) is None  # the counter went back: a restart
    assert meter.rate(50, clock=lambda: 500.0) is None  # the last view is too old to tell


@pytest.mark.django_db
def test_the_health_page_shows_the_figures_to_staff(client):
    staff = make_user("ops-staff")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    response = client.get("/admin/realtime/health/")
    assert response.status_code == 200
    content = response.content.decode()
    for text in ("Realtime health", "Connections by transport", "transport=websocket",
                 "Messages dropped, by reason", "reason=publish_failure", "Readings stored",
                 "Mean ingest latency", "Ingest rate since the last refresh",
                 "Hub of this process"):
        assert text in content, text
    index = client.get("/admin/").content.decode()
    assert 'href="/admin/realtime/health/"' in index


@pytest.mark.django_db
def test_the_health_page_is_not_for_anyone_else(client):
    assert client.get("/admin/realtime/health/").status_code == 302  # to the admin login
    client.force_login(make_user("plain-user"))
    response = client.get("/admin/realtime/health/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
