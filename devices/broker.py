"""The project's Mosquitto broker: its configuration, its first security document, and a
private broker process (the tests' fixture, `manage.py mqtt_broker`).

The broker authenticates every client with the dynamic-security plugin. Its document
(`dynamic-security.json` in the data directory) is written once, before the first start,
with the two service accounts and the roles; from then on the plugin owns it and the
server changes it over `$CONTROL/dynamic-security/v1` (devices/credentials.py: one
client per machine, username = serial, password = its newest device key).

No Django here: the tests start a broker before Django's settings matter, and the
management command only passes paths and ports.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from devices import topics

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "mosquitto.conf"
DYNSEC_PLUGIN_PATHS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
)
#: Underscores cannot occur in a serial (topics.valid_serial), so no machine can ever be
#: provisioned over a service account.
WORKER_USERNAME = "vendhub_worker"
SERVER_USERNAME = "vendhub_server"
WORKER_ROLE, ADMIN_ROLE = "vendhub-worker", "vendhub-admin"
#: A device's role is this and its serial.
DEVICE_ROLE_PREFIX = "device:"
#: The iterations Mosquitto itself uses for the passwords it hashes (PBKDF2-SHA512).
PASSWORD_ITERATIONS = 101
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"


class BrokerUnavailable(RuntimeError):
    """Mosquitto or its dynamic-security plugin is not installed, or it did not start."""


@dataclass(frozen=True)
class Account:
    username: str
    password: str

    def url(self, host: str, port: int) -> str:
        return f"mqtt://{quote(self.username, safe='')}:{quote(self.password, safe='')}" \
               f"@{host}:{port}"


@dataclass(frozen=True)
class MqttAddress:
    """What an `MQTT_URL` says: mqtt://user:password@host:port."""

    host: str
    port: int
    username: str
    password: str

    @classmethod
    def parse(cls, url: str) -> MqttAddress:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError(f"not an mqtt://user:password@host:port URL: {url!r}")
        return cls(host=parts.hostname, port=parts.port or 1883,
                   username=unquote(parts.username or ""),
                   password=unquote(parts.password or ""))


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)),
        None)


def dynsec_plugin() -> str | None:
    return next((p for p in DYNSEC_PLUGIN_PATHS if os.path.exists(p)), None)


def render_config(*, port: int, data_dir: Path, bind: str = "127.0.0.1",
                  plugin: str | None = None) -> str:
    plugin = plugin or dynsec_plugin()
    if plugin is None:
        raise BrokerUnavailable("Mosquitto's dynamic-security plugin is not installed")
    return TEMPLATE.read_text().format(port=port, bind=bind, data_dir=data_dir,
                                       dynsec_plugin=plugin, user=getpass.getuser())


def _hashed(password: str) -> dict:
    """A password as the plugin stores it: PBKDF2-HMAC-SHA512 over a random salt."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PASSWORD_ITERATIONS)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": PASSWORD_ITERATIONS}


def _acl(acltype: str, topic: str) -> dict:
    return {"acltype": acltype, "topic": topic, "allow": True}


def device_role(serial: str) -> dict:
    """A device's role: publishing its own inbound topics, subscribing to its own ack and
    commands. One role per device, naming its serial: Mosquitto 2.0's plugin does not
    substitute the username (`%u`) in a role's topics."""
    acls = [_acl("publishClientSend", topics.device_topic(serial, kind))
            for kind in topics.INBOUND]
    acls += [_acl("subscribePattern", topics.device_topic(serial, kind))
             for kind in topics.OUTBOUND]
    return {"rolename": f"{DEVICE_ROLE_PREFIX}{serial}", "acls": acls}


def roles() -> list[dict]:
    """The service roles. Workers and the server: every device's inbound topics (shared
    subscriptions or not), and publishing every device's ack and commands. The admin role:
    the plugin's control topic."""
    worker = [_acl("subscribePattern", f"{topics.PREFIX}/+/+"),
              _acl("subscribePattern", f"$share/+/{topics.PREFIX}/+/+")]
    worker += [_acl("publishClientSend", f"{topics.PREFIX}/+/{kind}") for kind in topics.OUTBOUND]
    # The plugin answers on `…/response` only to a client that may receive it there.
    admin = [_acl("publishClientSend", CONTROL_TOPIC),
             _acl("publishClientReceive", f"{CONTROL_TOPIC}/response"),
             _acl("subscribePattern", f"{CONTROL_TOPIC}/response")]
    return [{"rolename": WORKER_ROLE, "acls": worker},
            {"rolename": ADMIN_ROLE, "acls": admin}]


def security_document(*, worker: Account, server: Account) -> dict:
    """The plugin's first document: the worker account (ingestion), the server account
    (ingestion, commands and provisioning the devices), no device yet. Anything not
    granted is refused, except receiving what a client could subscribe to."""
    return {
        "clients": [
            {"username": worker.username, "textname": "VendHub ingestion worker",
             "roles": [{"rolename": WORKER_ROLE}], **_hashed(worker.password)},
            {"username": server.username, "textname": "VendHub server",
             "roles": [{"rolename": WORKER_ROLE}, {"rolename": ADMIN_ROLE}],
             **_hashed(server.password)},
        ],
        "groups": [],
        "roles": roles(),
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True,
                             "subscribe": False, "unsubscribe": True},
    }


def _raise_open_files_limit() -> None:
    # Every connected device is a socket: 5,000 devices need more than the usual 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class PrivateBroker:
    """A Mosquitto process of its own on `port`, with its data (persistence, security
    document, log) in `data_dir`. The accounts' passwords are made on first start and kept
    in `data_dir/accounts.json` (0600), so a restarted broker keeps its accounts and
    sessions."""

    def __init__(self, *, port: int, data_dir: Path, host: str = "127.0.0.1") -> None:
        self.port, self.host, self.data_dir = port, host, Path(data_dir)
        self.process: subprocess.Popen | None = None
        self.worker, self.server = self._accounts()

    def _accounts(self) -> tuple[Account, Account]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "accounts.json"
        if path.exists():
            saved = json.loads(path.read_text())
        else:
            saved = {name: secrets.token_urlsafe(24) for name in (WORKER_USERNAME, SERVER_USERNAME)}
            path.touch(mode=0o600)
            path.write_text(json.dumps(saved))
        return (Account(WORKER_USERNAME, saved[WORKER_USERNAME]),
                Account(SERVER_USERNAME, saved[SERVER_USERNAME]))

    @property
    def config_path(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mosquitto.log"

    @property
    def url(self) -> str:
        """The address without credentials (a device adds its serial and key)."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def server_url(self) -> str:
        return self.server.url(self.host, self.port)

    @property
    def worker_url(self) -> str:
        return self.worker.url(self.host, self.port)

    def prepare(self) -> None:
        """Write the configuration, and the security document if there is none yet."""
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerUnavailable("mosquitto is not installed (`make bootstrap` installs it)")
        self.config_path.write_text(render_config(port=self.port, data_dir=self.data_dir,
                                                  bind=self.host))
        document = self.data_dir / "dynamic-security.json"
        if not document.exists():
            document.touch(mode=0o600)
            document.write_text(json.dumps(
                security_document(worker=self.worker, server=self.server), indent=1))

    def command(self) -> list[str]:
        return [mosquitto_binary() or "mosquitto", "-c", str(self.config_path)]

    def start(self, timeout: float = 10.0) -> PrivateBroker:
        self.prepare()
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE,
                                        preexec_fn=_raise_open_files_limit)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace")
                raise BrokerUnavailable(f"mosquitto exited ({self.process.returncode}): {error}"
                                        f"{self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerUnavailable(f"mosquitto did not listen on {self.port}{self._log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Mosquitto saves its persistent sessions and exits."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> PrivateBroker:
        self.stop()
        return self.start()

    def _log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n" + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
