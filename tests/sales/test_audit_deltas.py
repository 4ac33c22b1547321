"""Period sales from two cumulative audits: normal delta, counter reset, board swap, first."""

from __future__ import annotations

from sales.dex import Audit, CashCounters, CashlessCounters, SelectionCounters, Totals
from sales.rules import Flag, SelectionSales, period_sales


def audit(
    *,
    serial: str = "SN1",
    board: str | None = "CB1",
    vends: int = 100,
    value: int = 500000,
    cash_in: int = 300000,
    to_box: int = 200000,
    card: int = 150000,
    selections: dict[str, tuple[int, int]] | None = None,
) -> Audit:
    selections = selections if selections is not None else {"1": (60, 300000), "2": (40, 200000)}
    return Audit(
        machine_serial=serial,
        control_board_serial=board,
        totals=Totals(paid_value=value, paid_vends=vends),
        cash=CashCounters(cash_in=cash_in, cash_to_box=to_box),
        cashless=(CashlessCounters("DA", sales_value=card, sales_vends=card // 5000),),
        selections=tuple(
            SelectionCounters(sel, price=5000, vends=n, value=v)
            for sel, (n, v) in selections.items()
        ),
    )


def test_first_audit_is_a_flagged_baseline_without_sales():
    sales = period_sales(audit(), None)
    assert sales.baseline and sales.flags == {Flag.FIRST_AUDIT}
    assert sales.paid_value is None and sales.selections == ()


def test_period_sales_are_the_difference_of_cumulative_counters():
    before = audit()
    after = audit(
        vends=110,
        value=550000,
        cash_in=330000,
        to_box=215000,
        card=170000,
        selections={"1": (66, 330000), "2": (44, 220000)},
    )
    sales = period_sales(after, before)
    assert not sales.baseline and sales.flags == frozenset()
    assert (sales.paid_vends, sales.paid_value) == (10, 50000)
    assert (sales.cash_in, sales.cash_to_box, sales.cashless_value) == (30000, 15000, 20000)
    assert sales.cashless_vends == 4
    assert sales.selections == (SelectionSales("1", 6, 30000), SelectionSales("2", 4, 20000))


def test_a_counter_lower_than_before_counts_from_zero_and_is_flagged():
    before = audit()
    after = audit(vends=105, value=525000, selections={"1": (3, 15000), "2": (42, 210000)})
    sales = period_sales(after, before)
    assert Flag.COUNTER_RESET in sales.flags and not sales.baseline
    assert sales.selections[0] == SelectionSales("1", 3, 15000)
    assert sales.selections[1] == SelectionSales("2", 2, 10000)
    assert sales.reset_counters == ("selection 1 vends", "selection 1 value")
    assert sales.paid_value == 25000


def test_a_different_board_serial_starts_over():
    sales = period_sales(audit(board="CB2", vends=500, value=9000000), audit())
    assert sales.baseline and sales.flags == {Flag.BOARD_REPLACED}
    assert sales.paid_value is None


def test_a_different_id1_serial_starts_over():
    assert period_sales(audit(serial="SN9"), audit()).flags == {Flag.BOARD_REPLACED}


def test_all_counters_lower_means_a_replaced_board_even_with_unknown_serials():
    before = audit(serial="", board=None)
    after = audit(
        serial="",
        board=None,
        vends=3,
        value=15000,
        cash_in=5000,
        to_box=0,
        card=10000,
        selections={"1": (2, 10000), "2": (1, 5000)},
    )
    sales = period_sales(after, before)
    assert sales.baseline and sales.flags == {Flag.BOARD_REPLACED}


def test_new_selection_counts_from_zero_and_selection_spellings_match():
    before = audit(selections={"010": (5, 25000)})
    after = audit(selections={"10": (7, 35000), "11": (2, 10000)})
    sales = period_sales(after, before)
    assert sales.selections == (SelectionSales("10", 2, 10000), SelectionSales("11", 2, 10000))


def test_a_counter_the_audit_does_not_report_stays_unknown():
    before = audit()
    after = Audit(machine_serial="SN1", control_board_serial="CB1", totals=Totals(paid_vends=120))
    sales = period_sales(after, before)
    assert sales.paid_vends == 20 and sales.paid_value is None and sales.cash_in is None
