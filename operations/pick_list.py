"""Pick-list rules: what to bring to a machine, and what it weighs. Pure, no I/O.

Per bunker (grams of its ingredient) or slot (units of its product): from the level the
forecast expects at the planned arrival up to the par level (a bunker's capacity; a slot's
par in the current planogram), rounded up to whole packs, because the warehouse issues
packs, not grams. An item without a pack size is issued by the gram or the piece.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Pack:
    """How the warehouse issues an item: `quantity` grams or units per pack, weighing
    `weight_grams` (an ingredient's pack weighs its quantity)."""

    quantity: int = 1
    weight_grams: int = 0


#: Without a pack size: by the gram (an ingredient) or by the piece (a product whose weight
#: is not known, counted as weightless in the van's load).
LOOSE = Pack(1, 0)


@dataclass(frozen=True)
class Stock:
    """One bunker or slot of a machine as the pick list reads it."""

    bunker_id: object | None
    slot_code: str
    ingredient_id: object | None
    product_id: object | None
    par: int  # grams or units to fill up to
    level: int  # at `level_at`
    level_at: datetime
    rate_per_hour: float = 0.0  # consumption, grams or units per hour
    pack: Pack = LOOSE

    @property
    def is_ingredient(self) -> bool:
        return self.bunker_id is not None


@dataclass(frozen=True)
class PlannedLine:
    stock: Stock
    planned_quantity: int
    packs: int
    weight_grams: int


def level_at(*, level: int, rate_per_hour: float, since: datetime, at: datetime) -> float:
    """The level expected at `at`: consumption at `rate_per_hour` from `level` at `since`,
    never below empty. A time before `since` keeps the known level (no refill is invented)."""
    hours = max(0.0, (at - since).total_seconds() / 3600)
    return max(0.0, level - max(0.0, rate_per_hour) * hours)


def packs_for(quantity: float, pack_quantity: int) -> int:
    """Whole packs that hold `quantity` (rounded up; a fraction of a gram is a gram)."""
    if quantity <= 0:
        return 0
    return math.ceil(math.ceil(quantity - 1e-9) / max(1, pack_quantity))


def weight_grams(stock: Stock, quantity: int) -> int:
    return line_weight_grams(is_ingredient=stock.is_ingredient, quantity=quantity,
                             pack=stock.pack)


def line_weight_grams(*, is_ingredient: bool, quantity: int, pack: Pack) -> int:
    """What `quantity` of an item weighs: grams are grams; a product weighs its pack's
    weight per unit (rounded up)."""
    if is_ingredient:
        return quantity
    return math.ceil(quantity * pack.weight_grams / max(1, pack.quantity))


def plan_line(stock: Stock, *, arrival: datetime) -> PlannedLine:
    """What to bring for `stock` to arrive at `arrival`: up to par in whole packs."""
    expected = level_at(level=stock.level, rate_per_hour=stock.rate_per_hour,
                        since=stock.level_at, at=arrival)
    packs = packs_for(stock.par - expected, stock.pack.quantity)
    quantity = packs * stock.pack.quantity
    return PlannedLine(stock, quantity, packs, weight_grams(stock, quantity))


def plan_lines(stocks: Iterable[Stock], *, arrival: datetime) -> list[PlannedLine]:
    return [plan_line(stock, arrival=arrival) for stock in stocks]


def load_grams(lines: Iterable[PlannedLine]) -> int:
    return sum(line.weight_grams for line in lines)


def totals(lines: Iterable[PlannedLine]) -> dict[tuple[str, object], tuple[int, int]]:
    """`{("ingredient"|"product", item id): (quantity, packs)}` over a route's lines."""
    summed: dict[tuple[str, object], tuple[int, int]] = {}
    for line in lines:
        stock = line.stock
        key = (("ingredient", stock.ingredient_id) if stock.is_ingredient
               else ("product", stock.product_id))
        quantity, packs = summed.get(key, (0, 0))
        summed[key] = (quantity + line.planned_quantity, packs + line.packs)
    return summed


def fits(lines: Iterable[PlannedLine], *, capacity_kg: int) -> bool:
    """Whether the lines' weight fits a vehicle of `capacity_kg`."""
    return load_grams(lines) <= capacity_kg * 1000
