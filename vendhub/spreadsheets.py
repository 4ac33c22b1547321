"""CSV cells that a spreadsheet opens as data, never as a formula (CSV injection): every
CSV export (the sales report, the pick list) writes its cells through `spreadsheet_cell`."""

from __future__ import annotations

#: What makes Excel, LibreOffice and Sheets read a cell as a formula or a command.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value) -> object:
    """`value` for a CSV writer: a text that would start a formula gets a leading `'`, None
    becomes an empty cell, anything else is written as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value
