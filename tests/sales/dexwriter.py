"""Retired: the audit writer is `sales.dex.writer`. This name stays only for tests still
importing it from here; import `sales.dex.writer` instead."""

from sales.dex.writer import write_dex

__all__ = ["write_dex"]
