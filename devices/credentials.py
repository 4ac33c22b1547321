"""The broker's device clients: one per machine, username = its serial, password = its
newest device key, with the device role (only its own topics).

Issuing or revoking a key writes a BrokerCredentialChange in the same transaction (the
receivers of telemetry.device_keys' signals); after the commit the change is applied to the
broker over the dynamic-security plugin's control topic: provisioning replaces the serial's
client (a device still connected with an older key is disconnected), removing deletes it if
it holds the revoked key (the plugin disconnects it at once). A broker that cannot be
reached never fails the issuance: the change stays pending, and `apply_pending()` (`manage.py
mqtt_sync_credentials`) applies it later.

Keys issued while no broker was configured (`MQTT_URL` unset) were never sealed: their
plaintext is gone, so such a machine needs a new key to use MQTT.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from devices.broker import DEVICE_ROLE_PREFIX, MqttAddress, device_role
from devices.dynsec import DynsecError, DynsecSession
from devices.models import BrokerCredentialChange, CredentialAction
from devices.topics import valid_serial
from telemetry.models import DeviceKey

logger = logging.getLogger(__name__)

#: A claimed change not applied within this time (a process died mid-way) is pending again.
CLAIM_SECONDS = 60
#: Failed attempts after which a change is given up (mqtt_sync_credentials then lists the
#: machine as needing a new key).
MAX_ATTEMPTS = 20
_SEAL_SALT = "devices.credentials.sealed-password"


def broker_configured() -> bool:
    return bool(getattr(settings, "MQTT_URL", ""))


def _fernet() -> Fernet:
    key = salted_hmac(_SEAL_SALT, "broker credentials", algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def unseal(token: str) -> str:
    """InvalidToken when SECRET_KEY changed since the key was sealed."""
    return _fernet().decrypt(token.encode()).decode()


def key_marker(device_key: DeviceKey | str) -> str:
    """What a broker client's description says of the key it holds (its public prefix)."""
    prefix = device_key if isinstance(device_key, str) else device_key.prefix
    return f"device key {prefix}"


# Writes, inside the caller's transaction ------------------------------------------------


def record_issued(*, device_key: DeviceKey, plaintext: str) -> BrokerCredentialChange | None:
    """Queue the broker client of a key just issued (nothing without a broker, or for a
    serial that cannot be a broker username); applied after the commit."""
    serial = device_key.machine.serial_number
    if not broker_configured():
        return None
    if not valid_serial(serial):
        logger.warning("machine %s: serial %r cannot be an MQTT username; its key is HTTP only",
                       device_key.machine_id, serial)
        return None
    change = BrokerCredentialChange.objects.create(
        device_key=device_key, serial=serial, action=CredentialAction.PROVISION,
        sealed_password=seal(plaintext))
    _apply_after_commit([change.pk])
    return change


def record_revoked(*, keys: Iterable[DeviceKey]) -> list[BrokerCredentialChange]:
    """Queue the removal of revoked keys' broker clients. A provisioning still pending for
    one of them is dropped with its sealed plaintext: a revoked key never reaches the broker."""
    keys = [key for key in keys if valid_serial(key.machine.serial_number)]
    if not keys or not broker_configured():
        return []
    BrokerCredentialChange.objects.filter(
        device_key__in=keys, action=CredentialAction.PROVISION, settled_at__isnull=True,
    ).update(sealed_password="", settled_at=timezone.now(), last_error="revoked before provisioned")
    changes = BrokerCredentialChange.objects.bulk_create(
        BrokerCredentialChange(device_key=key, serial=key.machine.serial_number,
                               action=CredentialAction.REMOVE) for key in keys)
    _apply_after_commit([change.pk for change in changes])
    return changes


def _apply_after_commit(ids: list[int]) -> None:
    """After the commit, apply `ids` and whatever else this connection recorded: the first
    callback takes every id of the transaction, so issuing a thousand keys in one
    transaction (the simulator) is one broker connection, not a thousand."""
    connection = transaction.get_connection()
    recorded = connection.__dict__.setdefault("_vendhub_broker_changes", [])
    recorded.extend(ids)

    def apply() -> None:
        batch = recorded[:]
        recorded.clear()
        if not batch:
            return
        try:
            apply_pending(ids=batch)
        except Exception:  # the key is issued or revoked whatever the broker says
            logger.exception("broker credentials: applying %s failed; "
                             "`manage.py mqtt_sync_credentials` retries", batch)

    transaction.on_commit(apply)


# Applying, after the commit ---------------------------------------------------------------


@dataclass
class ApplyResult:
    applied: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False


def _claim(*, ids: list[int] | None, limit: int | None,
           retry_now: bool = False) -> list[BrokerCredentialChange]:
    """Pending changes this process may apply, leased for CLAIM_SECONDS: two processes (a
    request's on_commit and a sync run) never apply the same change at once. A failed
    change waits for its retry time, unless `retry_now`."""
    now = timezone.now()
    due = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    if retry_now:
        due |= Q(attempts__gt=0)
    pending = BrokerCredentialChange.objects.filter(due, settled_at__isnull=True)
    if ids is not None:
        pending = pending.filter(pk__in=ids)
    with transaction.atomic():
        claimed = list(pending.select_for_update(skip_locked=True).order_by("id")
                       .values_list("pk", flat=True)[:limit])
        BrokerCredentialChange.objects.filter(pk__in=claimed).update(
            claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    return list(BrokerCredentialChange.objects.filter(pk__in=claimed)
                .select_related("device_key").order_by("id"))


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt: 10 s, 20 s, 40 s … at most 10 minutes."""
    return timedelta(seconds=min(10 * 2 ** max(attempts - 1, 0), 600))


def apply_pending(*, ids: list[int] | None = None, limit: int | None = None,
                  retry_now: bool = False) -> ApplyResult:
    """Apply pending changes (`ids`, or all that are due; oldest first, at most `limit`) to
    the broker of `MQTT_URL`, on one connection. A change that fails is retried later (see
    retry_delay), up to MAX_ATTEMPTS; one that never can be (its sealed key is gone) is
    settled with its error."""
    result = ApplyResult()
    if not broker_configured():
        return result
    changes = _claim(ids=ids, limit=limit, retry_now=retry_now)
    if not changes:
        return result
    try:
        outcomes = run_async(_apply(changes))
    except DynsecError as error:
        result.unreachable = True
        outcomes = [Outcome(f"broker unreachable: {error}")] * len(changes)
    now = timezone.now()
    for change, outcome in zip(changes, outcomes, strict=True):
        change.attempts += 1
        change.last_error = outcome.error or ""
        change.claimed_until = None
        if outcome.error is None:
            change.settled_at, change.sealed_password = now, ""
            result.applied += 1
            continue
        result.failed += 1
        result.errors.append(f"{change}: {outcome.error}")
        logger.warning("broker credentials: %s not applied: %s", change, outcome.error)
        if outcome.final or change.attempts >= MAX_ATTEMPTS:
            change.settled_at, change.sealed_password = now, ""
        else:
            change.claimed_until = now + retry_delay(change.attempts)
    BrokerCredentialChange.objects.bulk_update(
        changes, ["settled_at", "sealed_password", "last_error", "attempts", "claimed_until"],
        batch_size=500)
    return result


def retry_pending(*, now: datetime | None = None) -> int:
    """Apply the changes due for a retry (a sweep check of the watchdog, so a change the
    broker missed reaches it without anyone running mqtt_sync_credentials); how many."""
    if not broker_configured():
        return 0
    return apply_pending(limit=1000).applied


async def _apply(changes: list[BrokerCredentialChange]) -> list[Outcome]:
    """Each change's outcome, in order, on one connection
    (a removal and a provisioning of one serial must not swap). DynsecError when the
    broker cannot be reached."""
    async with _session() as session:
        return [await _apply_one(session, change) for change in changes]


@dataclass(frozen=True)
class Outcome:
    error: str | None = None
    #: The change can never be applied: retrying is pointless.
    final: bool = False


APPLIED = Outcome()


async def _apply_one(session: DynsecSession, change: BrokerCredentialChange) -> Outcome:
    try:
        if change.action == CredentialAction.PROVISION:
            if not change.sealed_password:
                return Outcome("no sealed key left to provision: issue a new key", final=True)
            try:
                password = unseal(change.sealed_password)
            except InvalidToken:
                return Outcome("sealed with another SECRET_KEY: issue a new key", final=True)
            await provision(session, serial=change.serial, password=password,
                            marker=key_marker(change.device_key.prefix))
        else:
            await remove(session, serial=change.serial,
                         marker=key_marker(change.device_key.prefix))
    except DynsecError as error:
        return Outcome(str(error))
    return APPLIED


async def provision(session: DynsecSession, *, serial: str, password: str, marker: str) -> None:
    """The serial's client and role, from scratch: the previous client (an older key) is
    deleted, which disconnects a device still using it."""
    await _delete(session, serial)
    role = device_role(serial)
    await session.run({"command": "createRole", **role})
    await session.run({"command": "createClient", "username": serial, "password": password,
                       "textdescription": marker, "roles": [{"rolename": role["rolename"]}]})


async def _delete(session: DynsecSession, serial: str) -> None:
    await session.run({"command": "deleteClient", "username": serial}, missing_ok=True)
    await session.run({"command": "deleteRole", "rolename": f"{DEVICE_ROLE_PREFIX}{serial}"},
                      missing_ok=True)


async def remove(session: DynsecSession, *, serial: str, marker: str) -> bool:
    """Delete the serial's client if it holds the key `marker` names (a newer key's client
    stays); the plugin disconnects a device connected with it."""
    client = await session.run({"command": "getClient", "username": serial}, missing_ok=True)
    if client is None or client.get("client", {}).get("textdescription") != marker:
        return False
    await _delete(session, serial)
    return True


def _session() -> DynsecSession:
    return DynsecSession(MqttAddress.parse(settings.MQTT_URL),
                         timeout=settings.MQTT_CONTROL_TIMEOUT)


def run_async(coroutine):
    """Run `coroutine` to its end from sync code, even from a thread whose event loop is
    running (then on a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="broker-credentials")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# Reconciling the broker with the database (`manage.py mqtt_sync_credentials`) ------------


@dataclass
class SyncReport:
    applied: ApplyResult
    #: Broker clients removed: their key is revoked or gone, or the machine's serial changed.
    removed: list[str] = field(default_factory=list)
    #: Serials with an active key but no broker client: keys issued while no broker was
    #: configured (their plaintext is gone); such a machine needs a new key for MQTT.
    without_client: list[str] = field(default_factory=list)


async def _device_clients() -> dict[str, str]:
    """The broker's device clients: serial → the marker of the key it holds."""
    async with _session() as session:
        data = await session.run({"command": "listClients", "verbose": True, "count": -1})
    return {client["username"]: client.get("textdescription", "")
            for client in data.get("clients", [])
            if any(role.get("rolename", "").startswith(DEVICE_ROLE_PREFIX)
                   for role in client.get("roles", []))}


async def _delete_clients(serials: list[str]) -> None:
    async with _session() as session:
        for serial in serials:
            await _delete(session, serial)


def sync_credentials() -> SyncReport:
    """Apply every pending change, then make the broker's device clients match the active
    keys: a client whose key is no longer active for its serial is deleted. Raises
    DynsecError when the broker cannot be reached."""
    report = SyncReport(applied=apply_pending(retry_now=True))
    if report.applied.unreachable:
        raise DynsecError(report.applied.errors[0])
    clients = run_async(_device_clients())
    active = {key_marker(prefix): serial for prefix, serial in DeviceKey.objects.filter(
        revoked_at__isnull=True).values_list("prefix", "machine__serial_number")}
    report.removed = sorted(serial for serial, marker in clients.items()
                            if active.get(marker) != serial)
    if report.removed:
        run_async(_delete_clients(report.removed))
    pending = set(BrokerCredentialChange.objects.filter(
        settled_at__isnull=True, action=CredentialAction.PROVISION,
    ).values_list("serial", flat=True))
    report.without_client = sorted(
        {serial for serial in active.values() if valid_serial(serial)}
        - (set(clients) - set(report.removed)) - pending)
    return report
