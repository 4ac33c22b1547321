"""devices.topics: the MQTT topic names of a machine, and what cannot be one."""

import pytest

from devices.topics import BadTopic, device_topic, parse_topic, shared_subscription


def test_a_topic_names_its_serial_and_kind_and_parses_back():
    topic = device_topic("VH-0001", "telemetry")
    assert topic == "vendhub/v1/VH-0001/telemetry"
    assert parse_topic(topic) == ("VH-0001", "telemetry")


def test_workers_share_one_subscription_per_device_to_server_kind():
    assert shared_subscription("sales") == "$share/ingest/vendhub/v1/+/sales"
    with pytest.raises(BadTopic):
        shared_subscription("commands")


@pytest.mark.parametrize("serial", ["", "a/b", "a+", "#", "$SYS", "a b", "x" * 65, "é"])
def test_a_serial_that_would_break_a_topic_or_a_wildcard_is_refused(serial):
    with pytest.raises(BadTopic):
        device_topic(serial, "telemetry")


@pytest.mark.parametrize("topic", ["vendhub/v1/VH-1", "vendhub/v1/VH-1/other",
                                   "other/vendhub/v1/VH-1/telemetry", "vendhub/v1//telemetry",
                                   "vendhub/v1/VH-1/telemetry/extra"])
def test_what_is_not_a_device_topic_is_refused(topic):
    with pytest.raises(BadTopic):
        parse_topic(topic)
