"""The monitor's charts read their times in the server's TIME_ZONE, as every other time on
the dashboard (and its "Times in ..." note), not in the browser's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]

#: A browser far from the server's zone: its hours differ from Tashkent's by 9 or 10.
BROWSER_ZONE = "America/New_York"
START = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
HOURS = 6


def twelve_hour(moment: datetime) -> str:
    """uPlot's default stamp of an hour: `9am`, `12pm`."""
    return f"{moment.hour % 12 or 12}{'am' if moment.hour < 12 else 'pm'}"


def test_chart_axis_and_legend_show_the_servers_time_zone(people, fleet, browser):
    page = browser.signed_in(people.manager, f"/machines/{people.machine.id}/",
                             timezone_id=BROWSER_ZONE)
    page.locator("#history[data-loaded=true]").wait_for()
    zone = page.locator("body").get_attribute("data-time-zone")
    assert zone and zone != BROWSER_ZONE
    drawn = page.evaluate(
        """async ([start, hours]) => {
            // The module the page itself loaded (same URL), with the page's configuration.
            const { lineChart } = await import(new URL("chart.js", document.querySelector(
                'script[src$="monitor.js"]').src).href);
            const box = document.createElement("div");
            document.querySelector("#history").append(box);
            const chart = lineChart(box, { series: [{ label: "t", unit: "°C" }] });
            const times = Array.from({ length: hours + 1 }, (_, i) => start + i * 3600);
            chart.setData(times, [times.map((_, i) => 20 + i)]);
            // uPlot draws on the next frame: its axis labels exist from then on.
            await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
            chart.plot.setCursor({ left: chart.plot.valToPos(start, "x"), top: 10 });
            const legend = box.querySelector(".u-legend .u-series:first-child .u-value");
            return { axis: chart.plot.axes[0]._values, legend: legend.textContent };
        }""",
        [START.timestamp(), HOURS],
    )
    local = [START.astimezone(ZoneInfo(zone)) + timedelta(hours=h) for h in range(HOURS + 1)]
    browser_hours = {twelve_hour(START.astimezone(ZoneInfo(BROWSER_ZONE)) + timedelta(hours=h))
                     for h in range(HOURS + 1)}
    # Labels read `9:00am`, `9:30am` (then `3/1/26` on a new line): their hours count.
    labelled = {hour + half for hour, half in re.findall(
        r"\b(\d{1,2})(?::\d{2})?(am|pm)\b", " ".join(map(str, drawn["axis"])))}
    assert labelled, drawn
    assert labelled <= {twelve_hour(moment) for moment in local}, (drawn, zone)
    assert not labelled & browser_hours
    first = local[0]
    assert drawn["legend"] == (f"{first:%Y-%m-%d} {first.hour % 12 or 12}:{first:%M}"
                               f"{'am' if first.hour < 12 else 'pm'}")
