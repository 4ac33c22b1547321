// The fleet list: every machine of the viewer's organizations in a table, searched and sorted
// by the server (`GET /api/v1/machines/?search=&ordering=`, 100 rows a page, "Load more").
//
// Live: statuses (and last seen) from the `machines:all` room the map uses — its
// `machines:status` batches and single `machine:status` events. Bunker levels and open errors
// are not streamed per machine (that would mean one room per machine, thousands for a big
// fleet): the list is refetched when a bunker goes low in one of the viewer's organizations
// (`inventory:low` on `org:{id}`), after every reconnect, and every 30 s. Revenue today and
// the last sale are live from the same `machines:all` room (`machines:revenue`, revenue.js),
// and so is when a machine's first bunker or slot runs out (`machines:runout`).

import { LiveDuringFetch, api, ago, formatDateTime, formatNumber, gettext, h, jsonScript, monitorUrl } from "./core.js";
import * as realtime from "./realtime.js";
import { applyRevenue, formatMoney, lastSaleText } from "./revenue.js";

const PAGE_SIZE = 100;
const REFRESH_MS = 30_000;
const SEARCH_DELAY_MS = 250;

const statusLabels = jsonScript("status-labels");
const columns = jsonScript("fleet-columns", []);
const root = document.getElementById("fleet");
const rowsEl = document.getElementById("fleet-rows");
const emptyEl = document.getElementById("fleet-empty");
const moreButton = document.getElementById("fleet-more");
const totalEl = document.getElementById("fleet-total");
const searchInput = document.getElementById("fleet-search");
const orderingSelect = document.getElementById("fleet-ordering");

const label = Object.fromEntries(columns.map((column) => [column.key, column.label]));
const rows = new Map(); // machine id -> {machine, tr}
const liveUpdates = new LiveDuringFetch();
let ordering = "name";
let search = "";
let pages = 1; // how many pages are shown: a refetch reloads as many
let generation = 0;

function cell(key, attrs, ...children) {
  return h("td", { class: `cell-${key}`, dataset: { label: label[key] || key }, ...attrs }, ...children);
}

function levelText(machine) {
  return machine.lowestBunkerPercent === null || machine.lowestBunkerPercent === undefined
    ? "—" : `${formatNumber(machine.lowestBunkerPercent, 0)} %`;
}

function rowFor(machine) {
  const low = machine.lowBunkers > 0;
  return h(
    "tr",
    { class: `fleet-row${low ? " is-low" : ""}`, dataset: { machineId: machine.id, status: machine.status } },
    cell("name", {}, h("a", { class: "fleet-name", href: monitorUrl(machine.id), text: machine.name })),
    cell("status", {}, h("span", { class: `status-pill status-${machine.status}`, text: statusLabels[machine.status] || machine.status })),
    cell("last-seen", { title: machine.lastSeenAt ? formatDateTime(machine.lastSeenAt) : "", dataset: { label: label.last_seen_at } },
      h("span", { class: "last-seen", dataset: { timestamp: machine.lastSeenAt || "" }, text: ago(machine.lastSeenAt) })),
    cell("level", { dataset: { label: label.lowest_bunker_percent, low: String(low) } },
      levelText(machine), low ? h("span", { class: "low-badge", text: "⚠", title: gettext("A bunker is under its low-level threshold") }) : null),
    cell("errors", { dataset: { label: label.open_errors, count: String(machine.openErrors) } }, String(machine.openErrors)),
    cell("revenue", { dataset: { label: label.revenue_today, revenue: String(machine.revenueToday ?? "") } },
      formatMoney(machine.revenueToday)),
    cell("last-sale", { title: machine.lastSaleAt ? formatDateTime(machine.lastSaleAt) : "", dataset: { label: label.last_sale_at } },
      h("span", { class: "last-sale", dataset: { timestamp: machine.lastSaleAt || "" }, text: lastSaleText(machine.lastSaleAt) })),
    cell("runs-out", { dataset: { label: label.runs_out_at, runsOutAt: machine.runsOutAt || "" } },
      machine.runsOutAt ? formatDateTime(machine.runsOutAt) : "—"),
  );
}

function render(machines, count) {
  rows.clear();
  const trs = machines.map((machine) => {
    const tr = rowFor(machine);
    rows.set(machine.id, { machine, tr });
    return tr;
  });
  rowsEl.replaceChildren(...trs);
  emptyEl.hidden = machines.length > 0;
  moreButton.hidden = machines.length >= count;
  totalEl.textContent = `(${count})`;
  root.dataset.ordering = ordering;
  root.dataset.loaded = "true";
}

function showOrdering() {
  const key = ordering.replace(/^-/, "");
  for (const th of root.querySelectorAll("th[data-column]")) {
    th.setAttribute("aria-sort", th.dataset.column !== key ? "none" : ordering.startsWith("-") ? "descending" : "ascending");
  }
  orderingSelect.value = ordering;
}

async function fetchPages() {
  const machines = [];
  let count = 0;
  for (let page = 1; page <= pages; page += 1) {
    const query = new URLSearchParams({ ordering, page, page_size: PAGE_SIZE });
    if (search) query.set("search", search);
    const body = await api(`/api/v1/machines/?${query}`);
    machines.push(...body.results);
    count = body.count;
    if (!body.next) break;
  }
  return { machines, count };
}

async function load() {
  const mine = ++generation;
  const [{ machines, count }, newer] = await liveUpdates.fetch(fetchPages);
  if (mine !== generation) return; // a newer search or sort is on its way
  render(machines, count);
  for (const update of newer) ("revenueToday" in update ? onRevenue : "runsOutAt" in update ? onRunout : onStatus)(update);
}

const reload = () => load().catch((error) => console.warn("fleet:", error));

function onStatus(update) {
  if (!update || !update.machineId) return;
  const row = rows.get(update.machineId);
  if (!row) return;
  row.machine.status = update.status;
  if (update.timestamp) row.machine.lastSeenAt = update.timestamp;
  replaceRow(row);
}

function replaceRow(row) {
  const fresh = rowFor(row.machine);
  row.tr.replaceWith(fresh);
  row.tr = fresh;
}

function onRevenue(update) {
  const row = update && rows.get(update.machineId);
  if (row && applyRevenue(row.machine, update)) replaceRow(row);
}

function onRunout(update) {
  const row = update && rows.get(update.machineId);
  if (!row || row.machine.runsOutAt === update.runsOutAt) return;
  row.machine.runsOutAt = update.runsOutAt;
  replaceRow(row); // the order of the rows waits for the next refetch, as other columns
}

function onLiveRunout(update) {
  if (!update || !update.machineId) return;
  liveUpdates.record(update);
  onRunout(update);
}

// Revenue updates received while the rows are fetched are applied on top of them, as statuses.
function onLiveRevenue(update) {
  if (!update || !update.machineId) return;
  liveUpdates.record(update);
  onRevenue(update);
}

function onLiveStatus(update) {
  liveUpdates.record(update);
  onStatus(update);
}

// -- controls ----------------------------------------------------------------------------------

for (const button of root.querySelectorAll("[data-sort]")) {
  button.addEventListener("click", () => {
    const key = button.dataset.sort;
    ordering = ordering === key ? `-${key}` : key;
    pages = 1;
    showOrdering();
    reload();
  });
}
orderingSelect.addEventListener("change", () => {
  ordering = orderingSelect.value;
  pages = 1;
  showOrdering();
  reload();
});
let searchTimer = null;
searchInput.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    search = searchInput.value.trim();
    pages = 1;
    reload();
  }, SEARCH_DELAY_MS);
});
moreButton.addEventListener("click", () => {
  pages += 1;
  reload();
});

// -- live --------------------------------------------------------------------------------------

let refetchTimer = null;
function refetchSoon() {
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(reload, 500); // one refetch for a burst of low bunkers
}

realtime.subscribe("machines:all", { batch: true }); // one frame per tick, as the map
for (const organizationId of jsonScript("organization-ids", [])) realtime.subscribe(`org:${organizationId}`);
realtime.on("machines:status", (updates) => Array.isArray(updates) && updates.forEach(onLiveStatus));
realtime.on("machine:status", onLiveStatus);
realtime.on("machines:revenue", (updates) => Array.isArray(updates) && updates.forEach(onLiveRevenue));
realtime.on("machine:revenue", onLiveRevenue);
realtime.on("machines:runout", (updates) => Array.isArray(updates) && updates.forEach(onLiveRunout));
realtime.on("machine:runout", onLiveRunout);
realtime.on("inventory:low", refetchSoon);
realtime.onResync(reload);
showOrdering();
reload();
setInterval(reload, REFRESH_MS);
setInterval(() => {
  for (const el of rowsEl.querySelectorAll(".last-seen")) el.textContent = ago(el.dataset.timestamp || null);
  for (const el of rowsEl.querySelectorAll(".last-sale")) el.textContent = lastSaleText(el.dataset.timestamp || null);
}, 5000);
