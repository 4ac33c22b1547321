// The live map: every located machine of the user's organizations as a marker coloured by
// status. Subscribing to `machines:all` brings `machines:snapshot` (the whole fleet) at once;
// then the server sends one `machines:status` batch per tick with the machines that changed
// (and single `machine:status` events, which are applied too). Markers show even when no
// map tile can load: HTML pins for a small fleet, one canvas for a large one (map-markers.js);
// the side list shows only the rows in view of a large fleet (map-list.js). A popup shows the
// machine's revenue today and last sale, live from the same room (revenue.js).

import { LiveDuringFetch, api, ago, h, jsonScript, monitorUrl, gettext } from "./core.js";
import { MachineList } from "./map-list.js";
import { markerKind, markerLayer } from "./map-markers.js";
import { RouteLayer } from "./map-routes.js";
import * as realtime from "./realtime.js";
import { applyRevenue, formatMoney, lastSaleText, takeRestSales } from "./revenue.js";
import { heldStatusText } from "./status.js";

const L = window.L;
const DEFAULT_CENTER = [41.2995, 69.2401]; // Tashkent
const statusLabels = jsonScript("status-labels");
const statusLabel = (status) => statusLabels[status] || status;

const mapEl = document.getElementById("map");
const listEl = document.getElementById("machine-list");
const listEmpty = document.getElementById("machine-list-empty");
const totalEl = document.getElementById("machine-total");

const map = L.map(mapEl, { zoomControl: true, attributionControl: true }).setView(DEFAULT_CENTER, 11);
if (mapEl.dataset.tileUrl) {
  L.tileLayer(mapEl.dataset.tileUrl, {
    maxZoom: 19,
    attribution: mapEl.dataset.tileAttribution || "",
  }).addTo(map);
}

const machines = new Map(); // id -> {machine, marker, item (its list row, built when shown)}
// `?markers=dom|canvas` picks the drawing whatever the fleet's size (support, tests).
const forcedMarkers = new URLSearchParams(window.location.search).get("markers");
let pins = markerLayer(map, markerKind(0, forcedMarkers));
const list = new MachineList(listEl, (entry) => listItem(entry.machine));
const collator = new Intl.Collator();
// Ids of machines with a bunker under its threshold: a badge on the pin and the list row.
const lowMachines = new Set();
const unlocated = new Set(); // ids of machines without coordinates: not on the map
let fitted = false;
// Status updates received while the fleet is fetched over REST: re-applied on top of it.
const liveUpdates = new LiveDuringFetch();

function popupContent(machine) {
  return h(
    "div",
    { class: "popup", dataset: { machineId: machine.id } },
    h("strong", { class: "popup-title", text: machine.name }),
    h(
      "div",
      { class: "popup-row" },
      h("span", { class: `status-pill status-${machine.status}`, text: statusLabel(machine.status) }),
    ),
    machine.statusSetAt ? h("div", { class: "popup-row popup-held", text: heldStatusText(machine, statusLabels) }) : null,
    h("div", { class: "popup-row muted" }, `${gettext("Last seen")}: `,
      h("span", { class: "popup-last-seen", text: machine.detailLoaded ? ago(machine.lastSeenAt) : "…" })),
    h("div", { class: "popup-row muted" }, `${gettext("Revenue today")}: `,
      h("span", { class: "popup-revenue", dataset: { revenue: machine.revenueToday ?? "" },
        text: machine.revenueToday === undefined ? "…" : formatMoney(machine.revenueToday) })),
    h("div", { class: "popup-row muted" }, `${gettext("Last sale")}: `,
      h("span", { class: "popup-last-sale", dataset: { timestamp: machine.lastSaleAt || "" },
        text: machine.revenueToday === undefined ? "…" : lastSaleText(machine.lastSaleAt) })),
    machine.address ? h("div", { class: "popup-row muted", text: machine.address }) : null,
    h("a", { class: "button button-small", href: monitorUrl(machine.id), text: gettext("Open monitor") }),
  );
}

function listItem(machine) {
  return h(
    "li",
    { class: "machine-item", dataset: { machineId: machine.id, status: machine.status } },
    h("span", { class: `dot status-${machine.status}`, "aria-hidden": "true" }),
    h("button", {
      type: "button", class: "machine-item-name link-button", text: machine.name,
      onclick: () => focusMachine(machine.id),
    }),
    h("span", { class: "machine-item-status muted", text: statusLabel(machine.status) }),
    lowMachines.has(machine.id) ? h("span", { class: "low-badge", text: `⚠ ${gettext("Low")}`, title: gettext("A bunker is under its low-level threshold") }) : null,
    h("a", { class: "machine-item-open", href: monitorUrl(machine.id), "aria-label": gettext("Open monitor"), text: "→" }),
  );
}

function focusMachine(id) {
  const entry = machines.get(id);
  if (!entry) return;
  map.setView(entry.marker.getLatLng(), Math.max(map.getZoom(), 14));
  entry.marker.openPopup();
}

function refreshPopup(entry) {
  if (entry.marker.isPopupOpen()) entry.marker.setPopupContent(popupContent(entry.machine));
}

async function loadDetail(entry) {
  try {
    const detail = await api(`/api/v1/machines/${entry.machine.id}/`);
    Object.assign(entry.machine, {
      lastSeenAt: detail.lastSeenAt,
      address: detail.address,
      status: detail.status,
      statusSetByName: detail.statusSetByName,
      statusSetAt: detail.statusSetAt,
      detailLoaded: true,
    });
    takeRestSales(entry.machine, detail);
    applyStatus(entry);
    const held = heldStatusText(entry.machine, statusLabels);
    entry.marker.getElement()?.setAttribute("title", held ? `${entry.machine.name}: ${held}` : entry.machine.name);
    refreshPopup(entry);
  } catch (error) {
    console.warn("machine detail:", error);
  }
}

function renderKey(machine) {
  return `${machine.status}|${machine.name}|${lowMachines.has(machine.id)}`;
}

function applyStatus(entry, { summary = true } = {}) {
  const { machine } = entry;
  // Rebuild only what changed: a resync re-applies every machine.
  const key = renderKey(machine);
  if (entry.rendered === key) return;
  entry.rendered = key;
  pins.restyle(entry.marker, machine, lowMachines.has(machine.id));
  list.invalidate(entry);
  if (summary) updateSummary();
}

function updateSummary() {
  const counts = {};
  for (const { machine } of machines.values()) counts[machine.status] = (counts[machine.status] || 0) + 1;
  for (const el of document.querySelectorAll("[data-count-for]")) {
    el.textContent = String(counts[el.dataset.countFor] || 0);
  }
  totalEl.textContent = machines.size ? `(${machines.size})` : "";
  listEmpty.hidden = machines.size > 0;
}

function addMarker(entry) {
  const marker = pins.create(entry.machine, lowMachines.has(entry.machine.id));
  marker.bindPopup(() => popupContent(entry.machine), { minWidth: 180 });
  marker.on("popupopen", () => loadDetail(entry));
  entry.marker = marker;
  entry.rendered = renderKey(entry.machine);
}

function render(points) {
  // A fleet that grew past (or shrank under) the DOM pins' limit is redrawn the other way.
  const kind = markerKind(points.length, forcedMarkers);
  if (kind !== pins.kind) {
    for (const entry of machines.values()) entry.marker.remove();
    pins = markerLayer(map, kind);
    for (const entry of machines.values()) addMarker(entry);
  }
  if (!fitted && points.length) {
    // Before the markers exist: they are then drawn once, at the zoom they are shown at, and
    // not again after an animated zoom.
    const bounds = L.latLngBounds(points.map((point) => [point.lat, point.lng]));
    map.fitBounds(bounds, { padding: [40, 40], maxZoom: 15, animate: false });
    fitted = true;
  }
  const seen = new Set();
  for (const point of points) {
    seen.add(point.id);
    const existing = machines.get(point.id);
    if (existing) {
      const moved = existing.machine.lat !== point.lat || existing.machine.lng !== point.lng;
      Object.assign(existing.machine, point);
      if (moved) existing.marker.setLatLng([point.lat, point.lng]);
      // One summary below for the lot: each counts the whole fleet.
      applyStatus(existing, { summary: false });
      continue;
    }
    const entry = { machine: { ...point }, marker: null, item: null, rendered: "" };
    addMarker(entry);
    machines.set(point.id, entry);
  }
  for (const [id, entry] of machines) {
    if (seen.has(id)) continue;
    entry.marker.remove();
    machines.delete(id);
  }
  const sorted = [...machines.values()].sort((a, b) => collator.compare(a.machine.name, b.machine.name));
  list.setEntries(sorted);
  updateSummary();
  // Every marker is drawn by the next frame (the canvas redraws in the frame Leaflet asked
  // for while the markers were added, before this callback): the bench waits for this.
  requestAnimationFrame(() => {
    mapEl.dataset.markers = String(machines.size);
    mapEl.dataset.markerKind = pins.kind;
  });
}

async function load() {
  const [points, newer] = await liveUpdates.fetch(() => api("/api/v1/machines/?withLocation=true"));
  render(Array.isArray(points) ? points : points.results || []);
  for (const update of newer) onStatus(update, { summary: false });
  updateSummary();
  mapEl.dataset.loaded = "true";
}

// `machines:snapshot`: every machine of the viewer's organizations, sent after subscribing.
function onSnapshot(snapshot) {
  if (!Array.isArray(snapshot)) return;
  const located = snapshot.filter((m) => m && m.lat != null && m.lng != null);
  unlocated.clear();
  for (const m of snapshot) if (m && (m.lat == null || m.lng == null)) unlocated.add(m.machineId);
  render(located.map((m) => ({
    id: m.machineId, name: m.name, lat: m.lat, lng: m.lng, status: m.status,
  })));
  for (const m of located) {
    const entry = machines.get(m.machineId);
    if (entry && m.lastSeenAt) entry.machine.lastSeenAt = m.lastSeenAt;
  }
  mapEl.dataset.loaded = "true";
}

// `machines:status`: the changes of one tick, [{machineId, status, timestamp}, …].
function onStatusBatch(updates) {
  if (!Array.isArray(updates)) return;
  // One summary for the batch: it counts the whole fleet, and a tick may change thousands.
  for (const update of updates) onLiveStatus(update, { summary: false });
  updateSummary();
}

function onLiveStatus(update, options) {
  liveUpdates.record(update);
  onStatus(update, options);
}

function onStatus(update, { summary = true } = {}) {
  if (!update || !update.machineId) return;
  const entry = machines.get(update.machineId);
  if (!entry && unlocated.has(update.machineId)) return;
  if (!entry) {
    load(); // a machine we do not know yet (just added or located): refetch the fleet
    return;
  }
  const wasHeld = Boolean(entry.machine.statusSetAt);
  entry.machine.status = update.status;
  if (wasHeld || update.status === "maintenance") {
    // Who holds it (or that nobody does any more) comes with the REST detail.
    entry.machine.statusSetAt = null;
    loadDetail(entry);
  }
  if (update.timestamp) {
    entry.machine.lastSeenAt = update.timestamp;
    entry.machine.detailLoaded = true;
  }
  applyStatus(entry, { summary });
  refreshPopup(entry);
}

// `machine:revenue`: a machine's sales today after a vend, coalesced per machine and tick
// like the statuses (`machines:revenue` batches for this page).
function onRevenue(update) {
  const entry = update && machines.get(update.machineId);
  if (entry && applyRevenue(entry.machine, update)) refreshPopup(entry);
}

// Batches: one `machines:status` frame per tick whatever the fleet's size (the default, one
// `machine:status` per machine, is for clients written for the reference design).
realtime.subscribe("machines:all", { batch: true });
realtime.on("machines:snapshot", onSnapshot);
realtime.on("machines:status", onStatusBatch);
realtime.on("machine:status", (update) => onLiveStatus(update));
realtime.on("machines:revenue", (updates) => Array.isArray(updates) && updates.forEach(onRevenue));
realtime.on("machine:revenue", onRevenue);
// "3 min ago" of an open popup's last sale keeps moving.
setInterval(() => {
  for (const el of mapEl.querySelectorAll(".popup-last-sale[data-timestamp]:not([data-timestamp=''])")) {
    el.textContent = lastSaleText(el.dataset.timestamp);
  }
}, 30_000);
// A new session subscribes again, which brings a fresh snapshot: no REST then. A recovered
// session gets its missed events replayed, but a map update still waiting for its tick when
// the connection dropped may be among them or not: refetch, as after a server `resync`.
realtime.onResync((why) => (why && why.reason === "connect" && !why.recovered ? undefined : load()));
// Without a live connection (no snapshot soon), show the fleet from REST anyway.
setTimeout(() => {
  if (mapEl.dataset.loaded !== "true") load().catch((error) => console.warn("machines:", error));
}, 3000);

// -- low-bunker badges ------------------------------------------------------------------------
// Which machines are low comes from REST (`?lowStock=true`) when the page opens, after every
// reconnect and once a minute (a refill clears a badge then); `inventory:low` on the
// organizations' rooms adds one at once. Only located machines are on the map, so the map's
// shape of the list (`withLocation`: id, name, place, status; one answer) is all it needs,
// not pages of full machines (a fleet of 20,000 with 1,000 low: 2 × 420 KB that held up
// the fleet's own fetch behind them on the server).

const LOW_REFRESH_MS = 60_000;

function setLow(ids) {
  const before = new Set(lowMachines);
  lowMachines.clear();
  for (const id of ids) lowMachines.add(id);
  // One summary for the lot: it counts the whole fleet.
  for (const id of new Set([...before, ...lowMachines])) {
    const entry = machines.get(id);
    if (entry) applyStatus(entry, { summary: false });
  }
  updateSummary();
  mapEl.dataset.lowLoaded = "true";
}

async function loadLow() {
  const low = await api("/api/v1/machines/?lowStock=true&withLocation=true");
  setLow(low.map((machine) => machine.id));
}

const refreshLow = () => loadLow().catch((error) => console.warn("low stock:", error));
for (const organizationId of jsonScript("organization-ids", [])) realtime.subscribe(`org:${organizationId}`);
realtime.on("inventory:low", (event) => {
  if (!event || !event.machineId || lowMachines.has(event.machineId)) return;
  lowMachines.add(event.machineId);
  const entry = machines.get(event.machineId);
  if (entry) applyStatus(entry);
});
realtime.onResync(refreshLow);
refreshLow();
setInterval(refreshLow, LOW_REFRESH_MS);

// Today's routes, drawn only when the "Routes" control is switched on (map-routes.js).
new RouteLayer(map, mapEl);

// The map container's size depends on CSS: tell Leaflet when it changes (rotation, resize).
new ResizeObserver(() => map.invalidateSize()).observe(mapEl);
