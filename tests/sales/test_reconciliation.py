"""Audit period sales vs the vend events seen over the API, per selection and in total."""

from __future__ import annotations

from sales.rules import Flag, PeriodSales, SelectionSales, VendTally, reconcile


def period(**selections: tuple[int, int]) -> PeriodSales:
    return PeriodSales(
        "SN1",
        False,
        frozenset(),
        selections=tuple(SelectionSales(s, n, v) for s, (n, v) in selections.items()),
        paid_vends=sum(n for n, _ in selections.values()),
        paid_value=sum(v for _, v in selections.values()),
    )


def test_matching_events_reconcile_to_zero():
    sales = period(A1=(3, 15000), A2=(1, 4000))
    result = reconcile(sales, {"A1": VendTally(3, 15000), "a2": VendTally(1, 4000)})
    assert result.matches
    assert (result.vends_difference, result.value_difference) == (0, 0)


def test_vends_the_api_never_saw_are_a_positive_difference():
    sales = period(A1=(5, 25000), A2=(2, 8000))
    result = reconcile(sales, {"A1": VendTally(3, 15000), "A2": VendTally(2, 8000)})
    assert not result.matches
    a1 = result.selections[0]
    assert (a1.selection, a1.vends_difference, a1.value_difference) == ("A1", 2, 10000)
    assert (result.vends_difference, result.value_difference) == (2, 10000)


def test_selections_on_one_side_only_appear_with_zero_on_the_other():
    sales = period(**{"1": (2, 10000)})
    result = reconcile(sales, {"001": VendTally(2, 10000), "7": VendTally(1, 6000)})
    by_selection = {d.selection: d for d in result.selections}
    assert by_selection["1"].vends_difference == 0
    assert (by_selection["7"].audit_vends, by_selection["7"].vends_difference) == (0, -1)
    assert result.value_difference == -6000


def test_a_baseline_is_not_comparable():
    baseline = PeriodSales("SN1", True, frozenset({Flag.FIRST_AUDIT}))
    result = reconcile(baseline, {"1": VendTally(4, 20000)})
    assert not result.comparable and not result.matches
    assert result.vends_difference is None
