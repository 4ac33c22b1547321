// The machine monitor: status, sensors, bunker levels and open errors of one machine.
// Initial state from GET /api/v1/machines/{id}/telemetry, then live from `machine:telemetry`
// (and `machine:status`) in the room `machine:{id}`; refetched after every reconnect.

import { api, ago, fmt, formatDateTime, formatDuration, formatNumber, gettext, h, jsonScript } from "./core.js";
import { initAudits } from "./audits.js";
import { initCommands } from "./commands.js";
import { initForecasts } from "./forecasts.js";
import { telemetryHistory } from "./chart.js";
import * as realtime from "./realtime.js";
import { heldStatusText } from "./status.js";

const root = document.getElementById("monitor");
const machineId = root.dataset.machineId;
const limits = {
  temperature: parseFloat(root.dataset.temperatureThreshold),
  humidity: parseFloat(root.dataset.humidityThreshold),
};
const statusLabels = jsonScript("status-labels");

const els = {
  status: document.getElementById("machine-status"),
  lastUpdate: document.getElementById("last-update"),
  temperatureCard: document.getElementById("temperature-card"),
  temperature: document.getElementById("temperature-value"),
  humidityCard: document.getElementById("humidity-card"),
  humidity: document.getElementById("humidity-value"),
  uptime: document.getElementById("uptime-value"),
  lastSale: document.getElementById("last-sale-value"),
  bunkers: document.getElementById("bunkers"),
  bunkersEmpty: document.getElementById("bunkers-empty"),
  errors: document.getElementById("errors"),
  errorsEmpty: document.getElementById("errors-empty"),
  errorsCount: document.getElementById("errors-count"),
  errorsCard: document.getElementById("errors-card"),
};

let timestamp = null; // ISO of the latest state shown

// Who holds a status a person set, beside the status pill (from the machine's REST detail).
const heldEl = h("span", { id: "status-held", class: "status-held muted", hidden: true });
els.status.after(heldEl);

async function loadHeld() {
  const detail = await api(`/api/v1/machines/${machineId}/`);
  heldEl.textContent = heldStatusText(detail, statusLabels);
  heldEl.hidden = !heldEl.textContent;
}

/** Bar colour by fill level: red under 20 %, yellow under 40 %, green otherwise. */
export function levelClass(percentage) {
  if (percentage < 20) return "level-low";
  if (percentage < 40) return "level-mid";
  return "level-ok";
}

function setStatus(status) {
  els.status.className = `status-pill status-${status}`;
  els.status.dataset.status = status;
  els.status.textContent = statusLabels[status] || status;
}

function tickLastUpdate() {
  els.lastUpdate.dataset.timestamp = timestamp || "";
  els.lastUpdate.textContent = ago(timestamp);
  els.lastUpdate.title = timestamp ? formatDateTime(timestamp) : "";
}

function sensor(card, valueEl, value, limit, unit) {
  const known = value !== null && value !== undefined;
  valueEl.textContent = known ? `${formatNumber(value)} ${unit}` : "—";
  const warn = known && value > limit;
  card.classList.toggle("sensor-warning", warn);
  card.dataset.warning = String(warn);
}

function bunkerRow(bunker) {
  const percentage = Math.max(0, Math.min(100, Number(bunker.percentage) || 0));
  return h(
    "li",
    {
      class: `bunker${bunker.lowLevelAlert ? " bunker-low" : ""}`,
      dataset: { bunkerId: bunker.bunkerId, percentage: String(bunker.percentage), level: levelClass(percentage) },
    },
    h(
      "div",
      { class: "bunker-head" },
      h("span", { class: "bunker-name", text: bunker.ingredientName }),
      h("span", { class: "bunker-percent", text: `${formatNumber(bunker.percentage, 0)} %` }),
    ),
    h(
      "div",
      {
        class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
        "aria-valuenow": String(Math.round(percentage)), "aria-label": bunker.ingredientName,
      },
      h("div", { class: `bar-fill ${levelClass(percentage)}`, style: `width: ${percentage}%` }),
    ),
    h(
      "div",
      { class: "bunker-foot muted" },
      h("span", {
        text: fmt(gettext("%(level)s / %(max)s g"), {
          level: formatNumber(bunker.currentLevel, 0), max: formatNumber(bunker.maxLevel, 0),
        }),
      }),
      bunker.lowLevelAlert ? h("span", { class: "flag flag-low", text: `⚠ ${gettext("Low level")}` }) : null,
    ),
  );
}

const SEVERITY = { warning: gettext("Warning"), error: gettext("Error"), critical: gettext("Critical") };

function errorRow(error) {
  return h(
    "li",
    { class: `error-item severity-${error.severity}`, dataset: { code: error.code } },
    h("span", { class: `tag tag-${error.severity}`, text: SEVERITY[error.severity] || error.severity }),
    h("div", { class: "error-body" },
      h("strong", { text: error.code }),
      error.message ? h("span", { text: ` ${error.message}` }) : null,
      h("div", { class: "muted error-time", text: formatDateTime(error.occurredAt) })),
  );
}

function render(state) {
  // Ignore an older document arriving after a newer one (REST answer racing a live event).
  if (timestamp && state.timestamp && Date.parse(state.timestamp) < Date.parse(timestamp)) return;
  timestamp = state.timestamp || timestamp;
  setStatus(state.status);
  tickLastUpdate();
  sensor(els.temperatureCard, els.temperature, state.temperature, limits.temperature, "°C");
  sensor(els.humidityCard, els.humidity, state.humidity, limits.humidity, "%");
  els.uptime.textContent = state.uptime ? formatDuration(state.uptime) : "—";
  els.lastSale.textContent = state.lastSale ? formatDateTime(state.lastSale) : "—";

  const bunkers = state.bunkers || [];
  els.bunkers.replaceChildren(...bunkers.map(bunkerRow));
  els.bunkersEmpty.hidden = bunkers.length > 0;
  showLowBunkers(bunkers);

  const errors = state.errors || [];
  els.errors.replaceChildren(...errors.map(errorRow));
  els.errorsEmpty.hidden = errors.length > 0;
  els.errorsCount.textContent = String(errors.length);
  els.errorsCard.classList.toggle("card-danger", errors.length > 0);
  root.dataset.loaded = "true";
}

async function load() {
  render(await api(`/api/v1/machines/${machineId}/telemetry`));
}

// -- low-bunker badge and telemetry history -------------------------------------------------

const lowBadge = document.getElementById("low-badge");
const lowBunkers = new Map(); // bunkerId -> ingredient name, of the bunkers under threshold

function drawLowBadge() {
  const names = [...lowBunkers.values()].sort();
  lowBadge.hidden = names.length === 0;
  lowBadge.dataset.count = String(names.length);
  lowBadge.textContent = names.length ? `⚠ ${fmt(gettext("Low: %(names)s"), { names: names.join(", ") })}` : "";
}

/** The badge from a whole state (REST or `machine:telemetry`): refills clear it. */
function showLowBunkers(bunkers) {
  lowBunkers.clear();
  for (const bunker of bunkers) if (bunker.lowLevelAlert) lowBunkers.set(bunker.bunkerId, bunker.ingredientName);
  drawLowBadge();
}

const historyCharts = telemetryHistory(document.getElementById("history"), {
  machineId, api, labels: { temperature: gettext("Temperature"), humidity: gettext("Humidity") },
});
realtime.on("machine:telemetry", (state) => state && state.machineId === machineId && historyCharts.append(state));
// `inventory:low` (the machine's room): a bunker just went under its threshold.
realtime.on("inventory:low", (event) => {
  if (!event || event.machineId !== machineId) return;
  lowBunkers.set(event.bunkerId, event.ingredientName);
  drawLowBadge();
});
realtime.onResync(() => historyCharts.load().catch((error) => console.warn("history:", error)));
historyCharts.load().catch((error) => console.warn("history:", error));

realtime.subscribe(`machine:${machineId}`);
realtime.on("machine:telemetry", (state) => state && state.machineId === machineId && render(state));
realtime.on("machine:status", (update) => {
  if (!update || update.machineId !== machineId) return;
  setStatus(update.status);
  loadHeld().catch((error) => console.warn("machine:", error));
});
// Run-out forecasts: REST, then `machine:forecast` in the room subscribed above.
initForecasts(document.getElementById("forecasts-card"), machineId);
// Commands to the machine (managers only: the card is not there for the others), live from
// `machine:command` in the room subscribed above.
const commandsCard = document.getElementById("commands-card");
const commands = commandsCard ? initCommands(commandsCard, machineId) : null;
if (commands) {
  commands.load().catch((error) => console.warn("commands:", error));
  realtime.onResync(() => commands.load().catch(() => {}));
}
// Audits arrive from devices and people without an event: read them on load and resync.
const audits = initAudits(document.getElementById("audits-card"), machineId);
audits.load().catch((error) => console.warn("audits:", error));
realtime.onResync(() => { load(); loadHeld().catch(() => {}); audits.load().catch(() => {}); });
load().catch((error) => console.warn("telemetry:", error));
loadHeld().catch((error) => console.warn("machine:", error));
setInterval(tickLastUpdate, 1000);
