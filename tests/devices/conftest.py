"""A private Mosquitto for the device tests: the project's configuration
(deploy/mosquitto/mosquitto.conf, the dynamic-security plugin), on a free port, with its
data in a temporary directory; never the machine's own broker on 1883."""

from __future__ import annotations

import pytest

from devices.broker import BrokerUnavailable, PrivateBroker, dynsec_plugin, mosquitto_binary
from tests.conftest import unavailable
from tests.devices.broker_support import Device
from tests.live import free_port


def _start_broker(data_dir) -> PrivateBroker:
    if mosquitto_binary() is None or dynsec_plugin() is None:
        unavailable("mosquitto (with its dynamic-security plugin) is not installed: "
                    "`make bootstrap` installs Debian's mosquitto")
    try:
        return PrivateBroker(port=free_port(), data_dir=data_dir).start()
    except BrokerUnavailable as error:
        unavailable(f"the private mosquitto did not start: {error}")


@pytest.fixture(autouse=True)
def close_devices_left_open():
    yield
    for device in list(Device.still_open):
        device.close()


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    """One broker for the session. `.url` (no credentials), `.server_url` and
    `.worker_url` (mqtt://user:password@127.0.0.1:port of the service accounts),
    `.server` / `.worker` (Account: username, password). Tests that stop or restart a
    broker use `own_mqtt_broker` instead."""
    broker = _start_broker(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    broker.stop()


@pytest.fixture
def own_mqtt_broker(tmp_path):
    """A broker of the test's own, free to stop and restart (`.stop()`, `.start()`,
    `.restart()` keep its data directory: persistent sessions and accounts survive)."""
    broker = _start_broker(tmp_path / "mosquitto")
    yield broker
    broker.stop()


@pytest.fixture
def mqtt_settings(settings, mqtt_broker):
    """The server's settings pointed at the session broker (its own account)."""
    settings.MQTT_URL = mqtt_broker.server_url
    return settings


@pytest.fixture
def own_mqtt_settings(settings, own_mqtt_broker):
    """The server's settings pointed at the test's own broker, with a short control timeout
    (the tests stop that broker)."""
    settings.MQTT_URL = own_mqtt_broker.server_url
    settings.MQTT_CONTROL_TIMEOUT = 2.0
    return settings
