"""Prometheus metrics of the server (per server process; generic layer). A product adds
its own to `REGISTRY` (telemetry/metrics.py), which the metrics endpoint exposes whole.

Counters are incremented once per broadcast and process, never once per recipient, so
observability costs nothing on the fan-out hot path.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

connections = Gauge(
    "vendhub_realtime_connections", "Open Engine.IO sessions by transport",
    ["transport"], registry=REGISTRY,
)
rooms = Gauge("vendhub_realtime_rooms", "Rooms with at least one local member", registry=REGISTRY)
events_emitted = Counter(
    "vendhub_realtime_events_emitted_total", "Events published to rooms, by event",
    ["event"], registry=REGISTRY,
)
frames_delivered = Counter(
    "vendhub_realtime_frames_delivered_total", "Frames handed to local sockets, by event",
    ["event"], registry=REGISTRY,
)
messages_dropped = Counter(
    "vendhub_realtime_messages_dropped_total", "Messages not delivered, by reason",
    ["reason"], registry=REGISTRY,
)
batched_reads = Counter(
    "vendhub_realtime_batched_reads_total",
    "Reads shared by concurrent callers (realtime.server.batching), by read", ["read"],
    registry=REGISTRY,
)
batched_callers = Counter(
    "vendhub_realtime_batched_callers_total",
    "Callers answered by those shared reads, by read", ["read"], registry=REGISTRY,
)
write_batches = Counter(
    "vendhub_realtime_write_batches_total",
    "Write batches: the frames of consecutive events written to each socket with one call "
    "(the hub was behind)", registry=REGISTRY,
)
batched_events = Counter(
    "vendhub_realtime_batched_events_total", "Events delivered in write batches",
    registry=REGISTRY,
)
recoveries = Counter(
    "vendhub_realtime_recoveries_total", "Connection state recovery attempts, by outcome",
    ["outcome"], registry=REGISTRY,
)

#: Reasons of `messages_dropped`: a frame not queued for a slow or closed client, a failed
#: channel-layer receive (messages may be lost), a publish that could not reach the channel
#: layer, an event not written to the recovery history, a message a full channel-layer
#: channel refused (channels_redis only logs those).
DROP_SLOW_CLIENT = "slow_client"
DROP_RECEIVE_FAILURE = "receive_failure"
DROP_PUBLISH_FAILURE = "publish_failure"
DROP_HISTORY_FAILURE = "history_failure"
DROP_CHANNEL_FULL = "channel_full"

# Known label values start at 0, so a scrape shows every series before anything happens.
for _transport in ("polling", "websocket"):
    connections.labels(transport=_transport)
for _reason in (DROP_SLOW_CLIENT, DROP_RECEIVE_FAILURE, DROP_PUBLISH_FAILURE,
                DROP_HISTORY_FAILURE, DROP_CHANNEL_FULL):
    messages_dropped.labels(reason=_reason)
for _outcome in ("hit", "miss"):
    recoveries.labels(outcome=_outcome)


#: The only trace channels_redis leaves when `group_send` finds channels at capacity: an
#: INFO line, and the message is gone for those channels.
_OVER_CAPACITY_MESSAGE = "%s of %s channels over capacity in group %s"


class ChannelFullCounter(logging.Filter):
    """Counts the messages channels_redis drops at capacity as `channel_full` drops, and
    raises its log line to WARNING: a lost event must never be silent. Other records pass
    only from `level` up (the logger's level before it was lowered to see the INFO line)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _OVER_CAPACITY_MESSAGE and record.args:
            try:
                messages_dropped.labels(reason=DROP_CHANNEL_FULL).inc(int(record.args[0]))
            except (TypeError, ValueError):
                return True
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        return record.levelno >= self.level


def count_channel_layer_drops() -> None:
    """Install `ChannelFullCounter` (once) on channels_redis's logger, which must then let
    INFO records through to the filter."""
    channel_layer_logger = logging.getLogger("channels_redis.core")
    if any(isinstance(f, ChannelFullCounter) for f in channel_layer_logger.filters):
        return
    channel_layer_logger.addFilter(ChannelFullCounter(channel_layer_logger.getEffectiveLevel()))
    channel_layer_logger.setLevel(logging.INFO)


def snapshot() -> dict[str, float]:
    """Flat {sample name{labels}: value} of every metric, for the admin health page."""
    values: dict[str, float] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name.endswith(("_created", "_bucket")):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values
