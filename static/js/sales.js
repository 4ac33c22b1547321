// The sales page: `GET /api/v1/sales/report/` over a range of days, grouped by day, machine,
// product or payment method: totals, a uPlot bar chart (the monitor's charting library), the
// table (100 rows a page, "Load more"), top and bottom machines and a CSV link for the same
// query. Money is an integer number of sums (UZS), shown with the page language's grouping.
//
// Live: `sales:today` on the `org:{id}` rooms of the organizations the viewer manages. When
// today is in the range, the report is refetched (one refetch for a burst of sales).

import { api, config, formatNumber, gettext, h, jsonScript, monitorUrl } from "./core.js";
import { PALETTE } from "./chart.js";
import * as realtime from "./realtime.js";

const PAGE_SIZE = 100;
const CHART_CATEGORIES = 20; // bars of a machine/product chart: the page's best sellers
const LIVE_DELAY_MS = 1000;

const root = document.getElementById("sales");
const reportUrl = root.dataset.reportUrl;
const groupLabels = jsonScript("group-labels");
const methodLabels = jsonScript("method-labels");
const organizationIds = jsonScript("organization-ids", []);
const fromInput = document.getElementById("sales-from");
const toInput = document.getElementById("sales-to");
const organizationSelect = document.getElementById("sales-organization");
const rowsEl = document.getElementById("sales-rows");
const emptyEl = document.getElementById("sales-empty");
const moreButton = document.getElementById("sales-more");
const errorEl = document.getElementById("sales-error");
const chartEl = document.getElementById("sales-chart");
const csvLink = document.getElementById("sales-csv");

let groupBy = "day";
let pages = 1;
let generation = 0;
let plot = null;
let shown = null; // the last report shown: {from, to}

/** Today in the pages' time zone, as YYYY-MM-DD. */
function today() {
  return new Date().toLocaleDateString("en-CA", { timeZone: config.timeZone });
}

function shiftDays(iso, days) {
  const date = new Date(`${iso}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

function query(extra = {}) {
  const params = new URLSearchParams({ from: fromInput.value, to: toInput.value, groupBy, ...extra });
  if (organizationSelect && organizationSelect.value) params.set("organization", organizationSelect.value);
  return params;
}

const money = (value) => formatNumber(value, 0);

function keyOf(row) {
  if (groupBy === "day") return new Date(`${row.day}T00:00:00Z`).toLocaleDateString(config.lang, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  if (groupBy === "paymentMethod") return methodLabels[row.paymentMethod] || row.paymentMethod;
  if (groupBy === "product") return row.productName || gettext("Unknown selection");
  return row.machineName;
}

function keyCell(row) {
  if (groupBy === "machine") return h("a", { href: monitorUrl(row.machineId), text: row.machineName });
  return keyOf(row);
}

function rowFor(row) {
  return h("tr", { class: "sales-row" },
    h("td", {}, keyCell(row)),
    h("td", { class: "number" }, money(row.revenue)),
    h("td", { class: "number" }, formatNumber(row.vends, 0)));
}

function machineItem(row) {
  return h("li", { dataset: { machineId: row.machineId } },
    h("a", { href: monitorUrl(row.machineId), text: row.machineName }),
    h("span", { class: "muted", text: ` ${money(row.revenue)} · ${formatNumber(row.vends, 0)}` }));
}

// -- chart -------------------------------------------------------------------------------------

function drawChart(rows) {
  const uPlot = window.uPlot;
  const days = groupBy === "day";
  const bars = days ? rows : rows.slice(0, CHART_CATEGORIES);
  const xs = days ? bars.map((row) => Date.parse(`${row.day}T00:00:00Z`) / 1000) : bars.map((_, i) => i);
  const labels = bars.map(keyOf);
  const data = [xs, bars.map((row) => row.revenue)];
  if (plot) plot.destroy();
  const width = Math.max(200, chartEl.clientWidth);
  plot = new uPlot({
    width,
    height: width < 500 ? 200 : 260,
    // A day of the report is a calendar date, not an instant: drawn at UTC midnight, read in UTC.
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
    cursor: { drag: { x: false, y: false } },
    legend: { show: true },
    // Half a bar's slot of room at each end, so the first and the last bars are drawn whole.
    scales: {
      x: days
        ? { time: true, range: (u, min, max) => [min - 43200, max + 43200] }
        : { time: false, range: [-0.5, Math.max(0.5, bars.length - 0.5)] },
    },
    axes: [
      days ? { stroke: "#64708a", grid: { show: false } } : {
        stroke: "#64708a", grid: { show: false }, rotate: 0,
        splits: () => xs,
        values: (u, splits) => splits.map((i) => (labels[i] || "").slice(0, 14)),
      },
      { stroke: "#64708a", grid: { stroke: "#eef1f6" }, size: 80, values: (u, values) => values.map(money) },
    ],
    series: [
      days
        ? { label: groupLabels.day }
        : { label: groupLabels[groupBy], value: (u, i) => (i === null || i === undefined ? "—" : labels[i] || "") },
      {
        label: gettext("Revenue"),
        stroke: PALETTE[0],
        fill: `${PALETTE[0]}99`,
        paths: uPlot.paths.bars({ size: [0.7, 60] }),
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "—" : money(v)),
      },
    ],
  }, data, chartEl);
  chartEl.dataset.points = String(bars.length);
}

new ResizeObserver(() => {
  const width = Math.max(200, chartEl.clientWidth);
  if (plot && width !== plot.width) plot.setSize({ width, height: width < 500 ? 200 : 260 });
}).observe(chartEl);

// -- loading -----------------------------------------------------------------------------------

async function fetchPages() {
  const rows = [];
  let body = null;
  for (let page = 1; page <= pages; page += 1) {
    body = await api(`${reportUrl}?${query({ page, page_size: PAGE_SIZE })}`);
    rows.push(...body.results);
    if (!body.next) break;
  }
  return { body, rows };
}

function render({ body, rows }) {
  document.getElementById("sales-revenue").textContent = money(body.totals.revenue);
  document.getElementById("sales-vends").textContent = formatNumber(body.totals.vends, 0);
  document.getElementById("sales-count").textContent = String(body.count);
  document.getElementById("sales-key-title").textContent = groupLabels[groupBy] || groupBy;
  rowsEl.replaceChildren(...rows.map(rowFor));
  emptyEl.hidden = body.totals.vends > 0 || body.totals.revenue > 0;
  moreButton.hidden = rows.length >= body.count;
  document.getElementById("sales-top").replaceChildren(...body.topMachines.map(machineItem));
  document.getElementById("sales-bottom").replaceChildren(...body.bottomMachines.map(machineItem));
  drawChart(rows);
  shown = { from: body.from, to: body.to };
  root.dataset.groupBy = groupBy;
  root.dataset.revenue = String(body.totals.revenue);
  root.dataset.loaded = "true";
}

async function load() {
  const mine = ++generation;
  csvLink.href = `${reportUrl}?${query({ format: "csv" })}`;
  for (const button of root.querySelectorAll("[data-group]")) {
    button.setAttribute("aria-pressed", String(button.dataset.group === groupBy));
  }
  try {
    const result = await fetchPages();
    if (mine !== generation) return; // a newer choice is on its way
    errorEl.hidden = true;
    render(result);
  } catch (error) {
    if (mine !== generation) return;
    errorEl.textContent = error.detail || String(error);
    errorEl.hidden = false;
  }
}

// -- controls ----------------------------------------------------------------------------------

function lastDays(days) {
  toInput.value = today();
  fromInput.value = shiftDays(toInput.value, 1 - days);
  for (const button of root.querySelectorAll("[data-days]")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.days) === days));
  }
}

for (const button of root.querySelectorAll("[data-days]")) {
  button.addEventListener("click", () => {
    lastDays(Number(button.dataset.days));
    pages = 1;
    load();
  });
}
for (const input of [fromInput, toInput]) {
  input.addEventListener("change", () => {
    if (!fromInput.value || !toInput.value) return;
    for (const button of root.querySelectorAll("[data-days]")) button.setAttribute("aria-pressed", "false");
    pages = 1;
    load();
  });
}
if (organizationSelect) organizationSelect.addEventListener("change", () => { pages = 1; load(); });
for (const button of root.querySelectorAll("[data-group]")) {
  button.addEventListener("click", () => {
    groupBy = button.dataset.group;
    pages = 1;
    load();
  });
}
moreButton.addEventListener("click", () => { pages += 1; load(); });

// -- live --------------------------------------------------------------------------------------

let liveTimer = null;
function onSalesToday(data) {
  if (!data || !shown || !data.date) return;
  if (organizationSelect && organizationSelect.value && organizationSelect.value !== data.organizationId) return;
  if (data.date < shown.from || data.date > shown.to) return; // today is not in the range
  clearTimeout(liveTimer);
  liveTimer = setTimeout(load, LIVE_DELAY_MS);
}

for (const organizationId of organizationIds) realtime.subscribe(`org:${organizationId}`);
realtime.on("sales:today", onSalesToday);
realtime.onResync(load);
lastDays(30);
load();
