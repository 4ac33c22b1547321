"""Durations in notifications are keyed texts: their units are rendered in the reader's
language, rounded down to the minute (to the hour beyond a day)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifications import messages


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=59), "0 min"),
    (timedelta(minutes=40, seconds=59), "40 min"),
    (timedelta(hours=1), "1 h 0 min"),
    (timedelta(hours=3, minutes=10, seconds=30), "3 h 10 min"),
    (timedelta(hours=23, minutes=59), "23 h 59 min"),
    (timedelta(days=1), "1 d 0 h"),
    (timedelta(days=2, hours=5, minutes=59), "2 d 5 h"),
    (timedelta(seconds=-5), "0 min"),
])
def test_a_duration_reads_in_its_largest_units(delta, text):
    assert messages.render("offline.silent", {"silent": messages.keyed_duration(delta),
                                              "interval": 60}, language="en") == (
        f"Silent for {text} (expected every 60 s).")
