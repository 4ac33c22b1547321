"""The till of a simulated machine, for `manage.py simulate_fleet` and `seed_demo`. No Django,
no I/O.

A `SimulatedSales` sells from the machine's planogram: customers come at a rate that
follows the hour of the day, pick a selection by its popularity among those the machine can
still serve (a coffee recipe needs every gram it takes from the bunkers, a spiral slot an
item), and pay cash, card or mobile (Payme/Click) in the mix seen in Tashkent. A coffee vend
takes exactly its recipe's grams from the simulated bunkers, which is what the server
subtracts from the bunkers' expected levels, so the next reading agrees with it.

The till keeps the cumulative counters a vending controller keeps, and on a cash collection
(when the cash box passes a level, or after some hours) writes them as a DEX/EVA-DTS audit:
the audit's period is then exactly the vends sold since the previous collection.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sales.dex.model import Audit, CashCounters, CashlessCounters, SelectionCounters, Totals
from sales.dex.writer import write_audit

#: (payment method, weight): cash still leads in Uzbek vending, cards (Uzcard, Humo) follow,
#: QR wallets grow.
PAYMENT_MIX = (("cash", 45), ("card", 35), ("mobile", 20))
#: Who processed a cashless payment, by method (cash has none).
PROVIDERS = {"card": (("Uzcard", 55), ("Humo", 40), ("Visa", 5)),
             "mobile": (("Payme", 60), ("Click", 40))}
#: Relative demand by local hour, 0-23: quiet at night, peaks on the way to work, at lunch
#: and after work. Normalized below so that the day's mean is 1.
_HOURLY = (0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 1.3, 2.0, 1.7, 1.2, 1.3,
           1.8, 1.7, 1.2, 1.1, 1.3, 1.6, 1.5, 1.2, 0.9, 0.6, 0.4, 0.2)
DEMAND_BY_HOUR = tuple(value * 24 / sum(_HOURLY) for value in _HOURLY)


def poisson(rng: random.Random, mean: float) -> int:
    """How many of a Poisson process with this mean happen (Knuth's method: fine for the
    small means of one tick)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class Bunker(Protocol):
    level: int  # grams


@dataclass
class SimulatedSelection:
    """A button or slot of the planogram in force, as the machine knows it."""

    code: str
    price: int  # the smallest currency unit in use (UZS: sums)
    #: (bunker id, grams per cup) of a coffee selection; empty for a spiral slot.
    recipe: tuple[tuple[str, int], ...] = ()
    capacity: int | None = None
    par_level: int | None = None
    #: Items in a spiral slot (None for a coffee button): filled to par on a collection.
    stock: int | None = None
    popularity: float = 1.0

    def __post_init__(self) -> None:
        if self.stock is None and not self.recipe and (self.par_level or self.capacity):
            self.stock = self.par_level or self.capacity

    def can_serve(self, bunkers: Mapping[str, Bunker]) -> bool:
        if self.stock is not None:
            return self.stock > 0
        return all(bunker_id in bunkers and bunkers[bunker_id].level >= grams
                   for bunker_id, grams in self.recipe)

    def serve(self, bunkers: Mapping[str, Bunker]) -> None:
        if self.stock is not None:
            self.stock -= 1
        for bunker_id, grams in self.recipe:
            bunkers[bunker_id].level -= grams

    def restock(self) -> None:
        if self.stock is not None:
            self.stock = max(self.stock, self.par_level or self.capacity or self.stock)


@dataclass
class Counters:
    """Cumulative counters since the controller's initialization, as DEX reports them."""

    by_selection: dict[str, list[int]] = field(default_factory=dict)  # code -> [vends, value]
    by_method: dict[str, list[int]] = field(default_factory=dict)  # method -> [vends, value]
    readouts: int = 0

    def add(self, code: str, method: str, value: int, vends: int = 1) -> None:
        """Count `vends` of selection `code` paid by `method`, together worth `value`."""
        for key, table in ((code, self.by_selection), (method, self.by_method)):
            row = table.setdefault(key, [0, 0])
            row[0] += vends
            row[1] += value

    @classmethod
    def from_audit(cls, audit: Audit) -> Counters:
        """The counters a controller resumes with after `audit` (its own last readout)."""
        counters = cls()
        for s in audit.selections:
            counters.by_selection[s.selection] = [s.vends or 0, s.value or 0]
        counters.by_method["cash"] = [audit.cash.cash_sales_vends or 0,
                                      audit.cash.cash_sales_value or 0]
        for device, method in (("DA", "card"), ("DB", "mobile")):
            for reader in audit.cashless:
                if reader.device == device:
                    counters.by_method[method] = [reader.sales_vends or 0,
                                                  reader.sales_value or 0]
        return counters

    def audit(self, *, serial: str, read_at: datetime, prices: Mapping[str, int]) -> Audit:
        """The counters as an `Audit` read at `read_at` (naive, the machine's local time)."""
        vends = sum(v for v, _ in self.by_selection.values())
        value = sum(v for _, v in self.by_selection.values())
        cash_vends, cash_value = self.by_method.get("cash", (0, 0))
        # Sums are bills nowadays: every sum of cash goes in through the bill validator and
        # into the cash box; the coin tubes stay empty.
        cash = CashCounters(cash_sales_value=cash_value, cash_sales_vends=cash_vends,
                            cash_in=cash_value, cash_to_box=cash_value, cash_to_tubes=0,
                            bills_in=cash_value)
        readers = tuple(
            CashlessCounters(device, serial=f"{serial}-{device}", model=model,
                             sales_value=self.by_method.get(method, (0, 0))[1],
                             sales_vends=self.by_method.get(method, (0, 0))[0])
            for device, method, model in (("DA", "card", "CARD"), ("DB", "mobile", "QR")))
        codes = sorted({*self.by_selection, *prices}, key=lambda c: (len(c), c))
        return Audit(
            machine_serial=serial, machine_model="VendHub simulator", decimal_places=0,
            currency="860", read_at=read_at.replace(microsecond=0),
            totals=Totals(paid_value=value, paid_vends=vends), cash=cash, cashless=readers,
            selections=tuple(SelectionCounters(code, price=prices.get(code),
                                               vends=self.by_selection.get(code, [0, 0])[0],
                                               value=self.by_selection.get(code, [0, 0])[1])
                             for code in codes))


@dataclass
class SimulatedSales:
    """The sales of one simulated machine. `sell()` each tick; `collection_due()` then
    `collect()` for the audit of a cash collection."""

    machine_id: str
    serial_number: str
    selections: list[SimulatedSelection]
    rng: random.Random
    time_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Tashkent"))
    sales_per_minute: float = 2.0  # the day's mean, before the hour's demand
    hourly_demand: Sequence[float] = DEMAND_BY_HOUR  # relative, by local hour 0-23
    payment_mix: Sequence[tuple[str, float]] = PAYMENT_MIX
    #: Collect the cash (and read an audit) when the box holds this much...
    collect_at: int = 500_000
    #: ...or when this long has passed since the last collection (None: never for time).
    collect_every: timedelta | None = timedelta(hours=24)
    #: Transaction ids are `<prefix><sequence>`: a prefix per run keeps them unique.
    transaction_prefix: str = ""
    counters: Counters = field(default_factory=Counters)
    cash_in_box: int = 0
    last_collection: datetime | None = None
    last_read_at: datetime | None = None  # of the last audit
    sequence: int = 0

    def demand(self, now: datetime) -> float:
        """Customers per minute at `now` (the hour's demand, linear between hours)."""
        local = now.astimezone(self.time_zone)
        hour = local.hour + local.minute / 60
        curve = self.hourly_demand
        before, after = curve[int(hour) % 24], curve[(int(hour) + 1) % 24]
        return self.sales_per_minute * (before + (after - before) * (hour - int(hour)))

    def _payment(self) -> tuple[str, str | None]:
        methods = [m for m, _ in self.payment_mix]
        method = self.rng.choices(methods, weights=[w for _, w in self.payment_mix])[0]
        providers = PROVIDERS.get(method)
        if not providers:
            return method, None
        return method, self.rng.choices([p for p, _ in providers],
                                        weights=[w for _, w in providers])[0]

    def sell(self, now: datetime, dt: float, bunkers: Mapping[str, Bunker]) -> list[dict]:
        """The vends of the `dt` seconds up to `now`, as the device posts them; bunkers and
        slots drained, counters and cash box updated."""
        if self.last_collection is None:
            self.last_collection = now
        vends = []
        # A vend read into the last audit's period must be before its read time (whole
        # seconds in DEX): later vends are stamped after it.
        earliest = (self.last_read_at.replace(microsecond=0) + timedelta(seconds=1)
                    if self.last_read_at is not None else now - timedelta(seconds=dt))
        for _ in range(poisson(self.rng, self.demand(now) * dt / 60)):
            open_ = [s for s in self.selections if s.can_serve(bunkers)]
            if not open_:
                break
            chosen = self.rng.choices(open_, weights=[s.popularity for s in open_])[0]
            chosen.serve(bunkers)
            method, provider = self._payment()
            at = max(now - timedelta(seconds=self.rng.uniform(0, dt)), earliest)
            self.sequence += 1
            self.counters.add(chosen.code, method, chosen.price)
            if method == "cash":
                self.cash_in_box += chosen.price
            vend = {"machineId": self.machine_id,
                    "transactionId": f"{self.transaction_prefix}{self.sequence}",
                    "selection": chosen.code, "price": chosen.price, "paymentMethod": method,
                    "timestamp": _iso8601(at.replace(microsecond=0))}
            if provider:
                vend["provider"] = provider
            vends.append(vend)
        vends.sort(key=lambda v: v["timestamp"])
        return vends

    def collection_due(self, now: datetime) -> bool:
        if self.cash_in_box >= self.collect_at:
            return True
        return (self.collect_every is not None and self.last_collection is not None
                and self.cash_in_box > 0 and now - self.last_collection >= self.collect_every)

    def audit(self, now: datetime) -> str:
        """The DEX audit of the counters as read at `now` (without collecting)."""
        self.counters.readouts += 1
        self.last_read_at = now
        audit = self.counters.audit(
            serial=self.serial_number, read_at=now.astimezone(self.time_zone).replace(tzinfo=None),
            prices={s.code: s.price for s in self.selections})
        audit = replace(audit, communication_id=f"VHS{self.serial_number}"[:20])
        return write_audit(audit, readouts=self.counters.readouts)

    def collect(self, now: datetime) -> str:
        """A cash collection at `now`: the audit read on it; the box emptied, the slots
        filled back to par (the same route visit)."""
        text = self.audit(now)
        self.cash_in_box = 0
        self.last_collection = now
        for selection in self.selections:
            selection.restock()
        return text


def _iso8601(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
