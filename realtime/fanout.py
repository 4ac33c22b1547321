"""The product's hub (product layer): how a room names its channel-layer group, and which
events the hub coalesces, given to the generic hub (realtime/server/hub.py) by the factory
that realtime/apps.py registers at startup.

The live map (`machine:status` in `map:{orgId}` rooms) would otherwise send every status
change of a whole fleet to every viewer: the hub keeps the latest status of each machine and
flushes every tick (`REALTIME["MAP_TICK_MS"]`). At the flush a member that joined the room
`batched` gets one `machines:status` batch per room (its frame rate does not grow with the
fleet: the dashboard), and any other member gets each machine's latest `machine:status`
frame as it was published (a client written for the reference design listens for
`machine:status`). The map's per-machine sales summary (`machine:revenue`, batched as
`machines:revenue`) is coalesced the same way: a vend burst must not send every viewer a
frame per vend; so is a machine's earliest run-out (`machine:runout`, `machines:runout`),
which moves with every refresh of its forecasts.
"""

from __future__ import annotations

from django.conf import settings

from .rooms import group_name
from .server.coalescing import CoalescedEvent
from .server.conf import RealtimeConfig
from .server.hub import Hub

MAP_ROOM_PREFIX = "map:"
MAP_STATUS_EVENT = "machine:status"
MAP_BATCH_EVENT = "machines:status"
MAP_REVENUE_EVENT = "machine:revenue"
MAP_REVENUE_BATCH_EVENT = "machines:revenue"
MAP_RUNOUT_EVENT = "machine:runout"
MAP_RUNOUT_BATCH_EVENT = "machines:runout"
#: Default of `REALTIME["MAP_TICK_MS"]`; 0 delivers each update at once.
DEFAULT_MAP_TICK_MS = 1000

LIVE_MAP = CoalescedEvent(
    name="live_map", room_prefix=MAP_ROOM_PREFIX, event=MAP_STATUS_EVENT,
    batch_event=MAP_BATCH_EVENT, key="machineId", fields=("status",),
    optional_fields=("timestamp",))
LIVE_REVENUE = CoalescedEvent(
    name="live_revenue", room_prefix=MAP_ROOM_PREFIX, event=MAP_REVENUE_EVENT,
    batch_event=MAP_REVENUE_BATCH_EVENT, key="machineId",
    fields=("revenueToday", "vendsToday", "lastSaleAt", "date"))
#: A machine's earliest run-out (operations' forecasts), for the fleet list's "Runs out".
LIVE_RUNOUT = CoalescedEvent(
    name="live_runout", room_prefix=MAP_ROOM_PREFIX, event=MAP_RUNOUT_EVENT,
    batch_event=MAP_RUNOUT_BATCH_EVENT, key="machineId", fields=("runsOutAt",))
COALESCED_EVENTS = (LIVE_MAP, LIVE_REVENUE, LIVE_RUNOUT)


def map_tick_ms() -> int:
    """How often the live map's coalesced updates are flushed (`REALTIME["MAP_TICK_MS"]`)."""
    # Keys are read case-insensitively, as realtime_config() reads the server's.
    raw = {key.lower(): value for key, value in getattr(settings, "REALTIME", {}).items()}
    return int(raw.get("map_tick_ms", DEFAULT_MAP_TICK_MS))


def product_hub(layer, *, map_tick_ms: int = DEFAULT_MAP_TICK_MS,
                room_linger_ms: int = 0, **options) -> Hub:
    """A hub with the product's room groups and live-map coalescing (`options`: the hub's
    other settings, e.g. write batching)."""
    return Hub(layer, group_name=group_name, coalesced=COALESCED_EVENTS, tick_ms=map_tick_ms,
               room_linger_ms=room_linger_ms, **options)


def hub_from_settings(layer, config: RealtimeConfig) -> Hub:
    """The hub factory of a server process (`set_hub_factory`)."""
    return product_hub(layer, map_tick_ms=map_tick_ms(), room_linger_ms=config.room_linger_ms,
                       write_batch_events=config.write_batch_events,
                       write_batch_hold_ms=config.write_batch_hold_ms)
