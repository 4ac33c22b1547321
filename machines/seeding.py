"""Seeding helpers of `manage.py seed_demo`: look an object up by its natural key, write it
only when it differs, and count what happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models


@dataclass
class Tally:
    """Counts of created / updated / unchanged objects, for the progress output."""

    counts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "same": 0})

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1

    def __str__(self) -> str:
        c = self.counts
        return f"{c['created']} created, {c['updated']} updated, {c['same']} unchanged"


def ensure(
    model: type[models.Model],
    *,
    lookup: dict[str, Any],
    values: dict[str, Any] | None = None,
    create_only: dict[str, Any] | None = None,
    tally: Tally | None = None,
) -> models.Model:
    """The object found by `lookup`: created with `values` and `create_only`, or updated
    to `values` (only the differing fields, and only when something differs)."""
    values = values or {}
    obj = model._default_manager.filter(**lookup).first()
    if obj is None:
        obj = model._default_manager.create(**lookup, **values, **(create_only or {}))
        outcome = "created"
    else:
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        for name in changed:
            setattr(obj, name, values[name])
        if changed:
            fields = [
                name.removesuffix("_id") if name.endswith("_id") else name for name in changed
            ]
            obj.save(
                update_fields=[*fields, "updated_at"] if hasattr(obj, "updated_at") else fields
            )
        outcome = "updated" if changed else "same"
    if tally is not None:
        tally.add(outcome)
    return obj
