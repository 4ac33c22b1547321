"""Vends as devices post them to `POST /api/v1/sales/`: parsed by hand, like telemetry (a DRF
serializer per vend would cost more than the insert), every bad field named by its path
(`paymentMethod`, `[3].paymentMethod`). Pure: no database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sales.models import PaymentMethod
from telemetry.validation import (
    UNSTORABLE_TEXT,
    Collector,
    choice_message,
    is_choice,
    is_storable_text,
    join,
    parse_datetime,
)

VEND_FIELDS = frozenset({"machineId", "transactionId", "selection", "price", "paymentMethod",
                         "provider", "timestamp"})
REQUIRED = ("machineId", "transactionId", "selection", "price", "paymentMethod", "timestamp")
METHODS = frozenset(PaymentMethod.values)
#: 10^15 of the smallest currency unit: beyond any price, exact in a JavaScript number.
MAX_PRICE = 10**15
MAX_TRANSACTION_ID = 64
MAX_SELECTION = 16
MAX_PROVIDER = 32


@dataclass(frozen=True)
class VendIn:
    transaction_id: str
    selection: str
    price: int  # the smallest currency unit in use (UZS: sums)
    payment_method: str
    provider: str
    timestamp: datetime


class VendsRejected(Exception):
    """Invalid vends; `errors` maps each bad field's path to its messages (a 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class ForeignMachine(Exception):
    """A vend names another machine than the device key's (a 403)."""


def _text(value: Any, path: str, limit: int, out: Collector, *, numbers: bool) -> str | None:
    """A non-empty string of at most `limit` characters; with `numbers`, a whole number
    >= 0 too (devices count transactions), as its decimal string."""
    if numbers and type(value) is int and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        out.add(path, "Expected a non-empty string" + (" or a whole number." if numbers else "."))
        return None
    if len(value) > limit:
        out.add(path, f"At most {limit} characters.")
        return None
    if not is_storable_text(value):
        out.add(path, UNSTORABLE_TEXT)
        return None
    return value


def _parse_vend(item: Any, path: str, *, machine_id: str, latest: datetime,
                skew_seconds: int, oldest: datetime, retention_days: int,
                out: Collector) -> VendIn | None:
    if not isinstance(item, dict):
        out.add(path, "Expected a vend object.")
        return None
    before = len(out.errors) + out.more
    for name in sorted(item.keys() - VEND_FIELDS):
        out.add(join(path, name), "Unknown field.")
    for name in REQUIRED:
        if name not in item:
            out.add(join(path, name), "This field is required.")
    if "machineId" in item:
        named = item["machineId"]
        try:
            named = str(uuid.UUID(named)) if isinstance(named, str) else None
        except ValueError:
            named = None
        if named is None:
            out.add(join(path, "machineId"), "Not a UUID.")
        elif named != machine_id:
            raise ForeignMachine(f"{path or 'The vend'} is for machine {named}; this device "
                                 f"key belongs to machine {machine_id}.")
    transaction_id = selection = timestamp = None
    if "transactionId" in item:
        transaction_id = _text(item["transactionId"], join(path, "transactionId"),
                               MAX_TRANSACTION_ID, out, numbers=True)
    if "selection" in item:
        selection = _text(item["selection"], join(path, "selection"), MAX_SELECTION, out,
                          numbers=True)
    price = item.get("price")
    if "price" in item and (type(price) is not int or not 0 <= price <= MAX_PRICE):
        out.add(join(path, "price"), "Expected a whole number, 0 or more, in the currency's "
                                     "smallest unit in use (UZS: sums).")
    method = item.get("paymentMethod")
    if "paymentMethod" in item and not is_choice(method, METHODS):
        out.add(join(path, "paymentMethod"), choice_message("payment method", method, METHODS))
    provider = item.get("provider")
    if provider is not None:
        provider = _text(provider, join(path, "provider"), MAX_PROVIDER, out, numbers=False)
    if "timestamp" in item:
        timestamp = parse_datetime(item["timestamp"], join(path, "timestamp"), out)
        if timestamp is not None and timestamp > latest:
            out.add(join(path, "timestamp"),
                    f"More than {skew_seconds} s in the future: check the device clock.")
        elif timestamp is not None and timestamp < oldest:
            # Its key may be pruned already: taken again, it would count twice.
            out.add(join(path, "timestamp"),
                    f"Older than the {retention_days} days vends are kept: check the "
                    "device clock.")
    if len(out.errors) + out.more != before:
        return None
    return VendIn(transaction_id=transaction_id, selection=selection, price=price,
                  payment_method=method, provider=provider or "", timestamp=timestamp)


def parse_vends(data: Any, *, machine_id, now: datetime, max_batch: int,
                max_clock_skew: timedelta, retention_days: int) -> list[VendIn]:
    """Validate a body holding one vend (an object) or a batch (a list of 1..max_batch).

    Raises ForeignMachine when a vend names another machine than `machine_id`, VendsRejected
    with every bad field otherwise. Returns the vends in body order (a transaction id may
    repeat: ingestion counts the repeats as duplicates).
    """
    out = Collector()
    if isinstance(data, dict):
        items, paths = [data], [""]
    elif isinstance(data, list):
        if not data:
            raise VendsRejected({"non_field_errors": ["Empty batch: send 1 or more vends."]})
        if len(data) > max_batch:
            raise VendsRejected({"non_field_errors": [f"At most {max_batch} vends per request."]})
        items, paths = data, [f"[{i}]" for i in range(len(data))]
    else:
        raise VendsRejected({"non_field_errors": ["Expected a vend object or a list of vends."]})
    latest = now + max_clock_skew
    skew = int(max_clock_skew.total_seconds())
    oldest = now - timedelta(days=retention_days)
    vends = [_parse_vend(item, path, machine_id=str(machine_id), latest=latest,
                         skew_seconds=skew, oldest=oldest, retention_days=retention_days,
                         out=out) for item, path in zip(items, paths, strict=True)]
    if out:
        raise VendsRejected(out.report())
    return vends  # type: ignore[return-value]  (no None left without errors)
