// Time-series charts drawn with uPlot (served from node_modules as vendor/uplot, loaded by the
// page as a plain script: `window.uPlot`). A chart fills its container's width and follows
// it (phone rotation, window resize), so a page never scrolls sideways because of a chart.
// uPlot draws on a canvas and styles its elements through the CSSOM, which the
// Content-Security-Policy allows (no inline style attributes, no injected <style>).

import { config, formatNumber } from "./core.js";

const HEIGHT = 200;
const PHONE_HEIGHT = 170;

/** The series' colours, in order (the first for a one-series chart). */
export const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563"];

/**
 * The Date uPlot formats for `seconds` (unix): in the server's TIME_ZONE, as every other
 * time on the pages (core.js `config.timeZone`), so the axis ticks and the legend read the
 * same hours as the page beside them whatever the browser's zone.
 */
export function chartDate(seconds) {
  const date = new Date(seconds * 1000);
  return config.timeZone ? window.uPlot.tzDate(date, config.timeZone) : date;
}

function heightFor(width) {
  return width < 500 ? PHONE_HEIGHT : HEIGHT;
}

/**
 * A line chart in `container`. `series`: [{label, unit}], one y value per series per point.
 * Returns {setData(times, columns), append(time, values), points()} where times are unix
 * seconds and columns[i][k] is series i at times[k] (null: no value, drawn as a gap).
 */
export function lineChart(container, { series, unit = "", yRange = null }) {
  const uPlot = window.uPlot;
  const times = [];
  const columns = series.map(() => []);
  const options = {
    width: Math.max(200, container.clientWidth),
    height: heightFor(container.clientWidth),
    tzDate: chartDate,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true }, y: yRange ? { range: yRange } : { auto: true } },
    axes: [
      { stroke: "#64708a", grid: { stroke: "#eef1f6" }, ticks: { stroke: "#e2e7ef" } },
      {
        stroke: "#64708a", grid: { stroke: "#eef1f6" }, ticks: { stroke: "#e2e7ef" }, size: 66,
        values: (u, values) => values.map((v) => `${formatNumber(v, 1)}${unit ? ` ${unit}` : ""}`),
      },
    ],
    series: [
      {},
      ...series.map((s, index) => ({
        label: s.label,
        stroke: PALETTE[index % PALETTE.length],
        width: 2,
        spanGaps: false,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "—" : `${formatNumber(v, 1)} ${s.unit || unit}`),
      })),
    ],
  };
  const plot = new uPlot(options, [times, ...columns], container);
  container.dataset.points = "0";

  const redraw = () => {
    plot.setData([times, ...columns]);
    container.dataset.points = String(times.length);
  };
  // Follow the container's width; the height steps down on a phone.
  new ResizeObserver(() => {
    const width = Math.max(200, container.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: heightFor(width) });
  }).observe(container);

  return {
    setData(newTimes, newColumns) {
      times.splice(0, times.length, ...newTimes);
      columns.forEach((column, i) => column.splice(0, column.length, ...(newColumns[i] || [])));
      redraw();
    },
    /** Add a point at the end (a live reading); one older than the last point is ignored. */
    append(time, values) {
      if (times.length && time <= times[times.length - 1]) return false;
      times.push(time);
      columns.forEach((column, i) => column.push(values[i] ?? null));
      redraw();
      return true;
    },
    /** Drop points before `time` (unix seconds): the window slides with live points. */
    trimBefore(time) {
      let drop = 0;
      while (drop < times.length && times[drop] < time) drop += 1;
      if (!drop) return;
      times.splice(0, drop);
      columns.forEach((column) => column.splice(0, drop));
      redraw();
    },
    points: () => times.length,
    destroy: () => plot.destroy(),
    /** The uPlot instance (its cursor and axes), for what the wrapper does not cover. */
    plot,
  };
}

// -- the machine monitor's telemetry history --------------------------------------------------

/** The periods of the selector: how far back, and the bucket that gives 240–340 points. */
export const PERIODS = {
  "24h": { seconds: 86400, bucket: "5m" },
  "7d": { seconds: 7 * 86400, bucket: "30m" },
  "30d": { seconds: 30 * 86400, bucket: "3h" },
};

const toSeconds = (iso) => Date.parse(iso) / 1000;
const percentOf = (grams, max) => (grams === null || grams === undefined || !max ? null : (100 * grams) / max);

/**
 * Temperature, humidity and bunker-level charts of one machine in `root` (the monitor's
 * history card: `[data-period]` buttons, `[data-chart=…]` containers, `[data-history-empty]`),
 * loaded from GET …/telemetry/history and appended live with `appendState(machineTelemetry)`.
 * `api` is core.js's REST helper; `labels` the translated chart titles.
 */
export function telemetryHistory(root, { machineId, api, labels }) {
  const charts = {
    temperature: lineChart(root.querySelector('[data-chart="temperature"]'), {
      series: [{ label: labels.temperature, unit: "°C" }], unit: "°C",
    }),
    humidity: lineChart(root.querySelector('[data-chart="humidity"]'), {
      series: [{ label: labels.humidity, unit: "%" }], unit: "%",
    }),
  };
  const bunkersEl = root.querySelector('[data-chart="bunkers"]');
  const emptyEl = root.querySelector("[data-history-empty]");
  let bunkerIds = []; // the bunker chart's series, in order
  let period = "24h";
  let loading = null; // live states received while a period loads: appended after it
  let generation = 0;

  function bunkerChart(bunkers) {
    const ids = bunkers.map((b) => b.bunkerId);
    if (charts.bunkers && ids.join() === bunkerIds.join()) return;
    if (charts.bunkers) charts.bunkers.destroy();
    bunkerIds = ids;
    charts.bunkers = lineChart(bunkersEl, {
      series: bunkers.map((b) => ({ label: b.ingredientName, unit: "%" })), unit: "%", yRange: [0, 100],
    });
  }

  function append(state) {
    if (!state || !state.timestamp) return;
    if (loading) {
      loading.push(state);
      return;
    }
    const time = toSeconds(state.timestamp);
    charts.temperature.append(time, [state.temperature]);
    charts.humidity.append(time, [state.humidity]);
    if (charts.bunkers) {
      const byId = new Map((state.bunkers || []).map((b) => [b.bunkerId, b]));
      charts.bunkers.append(time, bunkerIds.map((id) => (byId.has(id) ? byId.get(id).percentage : null)));
    }
    const since = Date.now() / 1000 - PERIODS[period].seconds;
    for (const chart of Object.values(charts)) chart.trimBefore(since);
    showEmpty();
  }

  function showEmpty() {
    const none = charts.temperature.points() === 0;
    emptyEl.hidden = !none;
    root.dataset.points = String(charts.temperature.points());
  }

  async function load(next = period) {
    period = next;
    const mine = ++generation;
    for (const button of root.querySelectorAll("[data-period]")) {
      button.setAttribute("aria-pressed", String(button.dataset.period === period));
    }
    const { seconds, bucket } = PERIODS[period];
    const to = new Date(Date.now() + 60_000); // a reading stamped a little ahead still counts
    const from = new Date(to.getTime() - seconds * 1000 - 60_000);
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), bucket });
    loading = loading || [];
    try {
      const body = await api(`/api/v1/machines/${machineId}/telemetry/history?${query}`);
      if (mine !== generation) return; // another period was chosen meanwhile
      const times = body.points.map((p) => toSeconds(p.timestamp));
      charts.temperature.setData(times, [body.points.map((p) => p.temperature.avg)]);
      charts.humidity.setData(times, [body.points.map((p) => p.humidity.avg)]);
      bunkerChart(body.bunkers);
      charts.bunkers.setData(times, body.bunkers.map((b) => body.points.map((p) => {
        const stats = p.bunkers[b.bunkerId];
        return stats ? percentOf(stats.avg, b.maxLevel) : null;
      })));
      root.dataset.loaded = "true";
    } finally {
      if (mine === generation) {
        const pending = loading || [];
        loading = null;
        pending.forEach(append);
        showEmpty();
      }
    }
  }

  for (const button of root.querySelectorAll("[data-period]")) {
    button.addEventListener("click", () => load(button.dataset.period).catch((e) => console.warn("history:", e)));
  }
  return { load: () => load(period), append };
}
