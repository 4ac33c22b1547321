"""The MQTT topics of a machine (pure: no I/O, no Django).

A device publishes its documents to `vendhub/v1/{serial}/telemetry`, `…/sales` and
`…/audit`, and subscribes to `…/ack` (the server's answer to each message) and
`…/commands`. The broker lets a device use only the topics under its own serial (its
username), so the serial in a topic is who sent it. The ingestion workers share one
subscription per kind (`$share/ingest/vendhub/v1/+/telemetry`), so the broker splits the
devices' messages between the running workers.
"""

from __future__ import annotations

import re

PREFIX = "vendhub/v1"
#: Device → server. `replies`: a device's answers to its commands (`ack` is the server's
#: answer to the device's messages, so the device answers on a topic of its own).
INBOUND = ("telemetry", "sales", "audit", "replies")
#: The inbound kind of command answers, which the commands publisher (not the ingestion
#: workers) subscribes to, in a share group of its own.
REPLIES = "replies"
COMMANDS_SHARE_GROUP = "commands"
#: Server → device.
OUTBOUND = ("ack", "commands")
SHARE_GROUP = "ingest"
#: A serial usable as one topic level and as a broker username: no `/`, `+`, `#`, `$`,
#: spaces or control characters.
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class BadTopic(ValueError):
    """Not a device topic of this product."""


def valid_serial(serial: str) -> bool:
    return bool(_SERIAL.match(serial))


def device_topic(serial: str, kind: str) -> str:
    if kind not in INBOUND + OUTBOUND:
        raise BadTopic(f"unknown topic kind {kind!r}")
    if not valid_serial(serial):
        raise BadTopic(f"serial {serial!r} cannot be a topic level")
    return f"{PREFIX}/{serial}/{kind}"


def shared_subscription(kind: str, *, group: str = SHARE_GROUP) -> str:
    """The workers' shared subscription to every device's `kind` topic."""
    if kind not in INBOUND:
        raise BadTopic(f"{kind!r} is not a device → server topic")
    return f"$share/{group}/{PREFIX}/+/{kind}"


def parse_topic(topic: str) -> tuple[str, str]:
    """(serial, kind) of a device topic; BadTopic otherwise."""
    head, _, rest = topic.partition(f"{PREFIX}/")
    if head or not rest:
        raise BadTopic(f"{topic!r} is not under {PREFIX}/")
    serial, slash, kind = rest.partition("/")
    if not slash or kind not in INBOUND + OUTBOUND or not valid_serial(serial):
        raise BadTopic(f"{topic!r} is not a device topic")
    return serial, kind
