"""A simulated vending machine, for `manage.py simulate_fleet`. No Django, no I/O.

Each tick a `SimulatedMachine` sells a few drinks (bunkers deplete), lets temperature and
humidity drift (with rare hot or humid spells), sometimes raises an error for a while, and
sometimes drops off the network: either it keeps measuring and uploads its backlog as a
batch when it comes back, or it is switched off and reports nothing. `refill()` fills a
bunker back up when the operator closes its refill task.

A machine with a planogram (`sales`, a `telemetry.simulated_sales.SimulatedSales`) sells
from it instead: its vends wait in `vends` and the audits of its cash collections in
`audits` until the caller posts them (kept, like the readings, while the network is down).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from telemetry.simulated_sales import SimulatedSales, poisson

#: (code, message, severity, weight): what goes wrong in a coffee machine, and how often.
ERROR_CATALOG = (
    ("E-COIN-JAM", "Coin mechanism jammed", "warning", 5),
    ("E-CUP-EMPTY", "Cup dispenser empty", "error", 3),
    ("E-WATER-LOW", "Water tank low", "error", 3),
    ("E-GRINDER", "Grinder blocked", "error", 2),
    ("E-BOILER-HOT", "Boiler over temperature", "critical", 1),
)


def iso8601(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class SimulatedBunker:
    bunker_id: str
    capacity: int  # grams
    level: int  # grams
    grams_per_sale: int

    def sell(self, rng: random.Random) -> None:
        used = max(1, round(rng.gauss(self.grams_per_sale, self.grams_per_sale * 0.15)))
        self.level = max(0, self.level - used)


@dataclass
class Behaviour:
    """Tunables: rates are per minute of simulated time."""

    sales_per_minute: float = 2.0
    error_rate: float = 0.01  # new errors per minute
    offline_rate: float = 0.004  # network drops / power-offs per minute
    heat_rate: float = 0.003  # hot spells per minute
    humid_rate: float = 0.003


@dataclass
class _Spell:
    until: datetime
    target: float


@dataclass
class SimulatedMachine:
    machine_id: str
    serial_number: str
    bunkers: list[SimulatedBunker]
    rng: random.Random
    behaviour: Behaviour = field(default_factory=Behaviour)
    status: str = "online"
    temperature: float = 22.0
    humidity: float = 45.0
    booted_at: datetime | None = None
    last_sale: datetime | None = None
    errors: dict[str, tuple[str, str, datetime, datetime]] = field(default_factory=dict)
    offline_until: datetime | None = None
    powered_off: bool = False
    backlog: list[dict] = field(default_factory=list)
    heat: _Spell | None = None
    humid: _Spell | None = None
    sales: SimulatedSales | None = None
    vends: list[dict] = field(default_factory=list)  # sold, not posted yet
    audits: list[str] = field(default_factory=list)  # read on a collection, not posted yet
    in_maintenance: bool = False  # a command from the back office: no sales meanwhile

    def __post_init__(self) -> None:
        self.base_temperature = self.rng.uniform(19.0, 25.0)
        self.base_humidity = self.rng.uniform(35.0, 60.0)
        self.temperature, self.humidity = self.base_temperature, self.base_humidity

    # -- one step ------------------------------------------------------------------------

    def _happens(self, rate_per_minute: float, dt: float) -> bool:
        return self.rng.random() < 1 - math.exp(-rate_per_minute * dt / 60)

    def _poisson(self, mean: float) -> int:
        return poisson(self.rng, mean)

    def _drift(self, value: float, base: float, spell: _Spell | None, now: datetime,
               noise: float) -> float:
        target = spell.target if spell and spell.until > now else base
        return value + (target - value) * 0.2 + self.rng.gauss(0, noise)

    def step(self, now: datetime, dt: float) -> list[dict]:
        """Advance `dt` seconds to `now`; the readings to post now (none while offline, the
        whole backlog when the network comes back)."""
        if self.booted_at is None:
            self.booted_at = now - timedelta(seconds=self.rng.randint(3600, 30 * 86400))
        if self.offline_until is not None:
            if now < self.offline_until:
                if not self.powered_off:
                    self.backlog.append(self._measure(now, dt))
                return []
            if self.powered_off:
                self.booted_at = now - timedelta(seconds=5)
            self.offline_until, self.powered_off = None, False
        elif self._happens(self.behaviour.offline_rate, dt):
            self.offline_until = now + timedelta(seconds=self.rng.randint(150, 480))
            self.powered_off = self.rng.random() < 0.5
            if not self.powered_off:
                self.backlog.append(self._measure(now, dt))
            return []
        readings = [*self.backlog, self._measure(now, dt)]
        self.backlog.clear()
        return readings

    def _measure(self, now: datetime, dt: float) -> dict:
        behaviour = self.behaviour
        if self.heat is None or self.heat.until <= now:
            self.heat = None
            if self._happens(behaviour.heat_rate, dt):
                self.heat = _Spell(now + timedelta(minutes=self.rng.uniform(2, 6)),
                                   self.rng.uniform(31.5, 36.0))
        if self.humid is None or self.humid.until <= now:
            self.humid = None
            if self._happens(behaviour.humid_rate, dt):
                self.humid = _Spell(now + timedelta(minutes=self.rng.uniform(2, 6)),
                                    self.rng.uniform(82.0, 92.0))
        self.temperature = min(60.0, max(5.0, self._drift(
            self.temperature, self.base_temperature, self.heat, now, 0.15)))
        self.humidity = min(99.0, max(5.0, self._drift(
            self.humidity, self.base_humidity, self.humid, now, 0.5)))

        for code in [c for c, (_, _, _, until) in self.errors.items() if until <= now]:
            del self.errors[code]
        if self._happens(behaviour.error_rate, dt):
            code, message, severity, _ = self.rng.choices(
                ERROR_CATALOG, weights=[e[3] for e in ERROR_CATALOG])[0]
            if code not in self.errors:
                until = now + timedelta(seconds=self.rng.randint(60, 300))
                self.errors[code] = (message, severity, now, until)
        broken = any(severity in ("error", "critical") for _, severity, _, _ in
                     self.errors.values())
        self.status = "error" if broken else "online"

        if broken or self.in_maintenance:
            pass
        elif self.sales is not None:
            self._sell(now, dt)
        elif self.bunkers:
            for _ in range(self._poisson(behaviour.sales_per_minute * dt / 60)):
                recipe = self.rng.sample(self.bunkers, k=min(len(self.bunkers),
                                                            self.rng.randint(1, 2)))
                if all(b.level >= b.grams_per_sale for b in recipe):
                    for bunker in recipe:
                        bunker.sell(self.rng)
                    self.last_sale = now - timedelta(seconds=self.rng.uniform(0, dt))

        return {
            "machineId": self.machine_id,
            "timestamp": iso8601(now),
            "status": self.status,
            "temperature": round(self.temperature, 1),
            "humidity": round(self.humidity, 1),
            "bunkers": [{"bunkerId": b.bunker_id, "currentLevel": b.level}
                        for b in self.bunkers],
            "errors": [{"code": code, "message": message, "severity": severity,
                        "occurredAt": iso8601(since)}
                       for code, (message, severity, since, _) in sorted(self.errors.items())],
            "lastSale": iso8601(self.last_sale) if self.last_sale else None,
            "uptime": int((now - self.booted_at).total_seconds()),
        }

    def _sell(self, now: datetime, dt: float) -> None:
        sales = self.sales
        sold = sales.sell(now, dt, {b.bunker_id: b for b in self.bunkers})
        if sold:
            self.vends += sold
            latest = datetime.fromisoformat(sold[-1]["timestamp"])
            self.last_sale = latest if self.last_sale is None else max(self.last_sale, latest)
        if sales.collection_due(now):
            self.audits.append(sales.collect(now))

    def carry_out(self, kind: str, params: dict, now: datetime) -> str | None:
        """Carry out a command of the back office (devices.models.CommandKind) as the
        machine's controller would; None when done, else the error it answers."""
        if kind in ("enter_maintenance", "leave_maintenance"):
            self.in_maintenance = kind == "enter_maintenance"
        elif kind == "reboot":
            self.booted_at = now
        elif kind == "set_price":
            selections = {s.code: s for s in self.sales.selections} if self.sales else {}
            if params.get("selection") not in selections:
                return f"no selection {params.get('selection')!r} on this machine"
            selections[params["selection"]].price = int(params["price"])
        elif kind == "request_audit":
            if self.sales is None:
                return "this machine keeps no DEX counters"
            self.audits.append(self.sales.audit(now))
        else:
            return f"unknown command {kind!r}"
        return None

    def refill(self, bunker_id: str) -> bool:
        for bunker in self.bunkers:
            if bunker.bunker_id == bunker_id:
                bunker.level = bunker.capacity
                return True
        return False

    @property
    def offline(self) -> bool:
        return self.offline_until is not None
