// The routes page (managers): one day of one organization, one column per operator with their
// stops in order. Drag a stop onto another operator's column (same day) or onto a day chip
// (same operator) → POST /api/v1/visits/{id}/move/, and both columns re-render from the two
// routes it answers. "Plan the day" posts /api/v1/routes/plan/ and lists the machines the
// plan could not fit. Live: `route:updated` on the organization's `org:{id}` room replaces
// that operator's column (a re-plan, another manager's move, an operator's visit).

import { ApiError, api, apiAll, config, fmt, formatNumber, formatTime, gettext, h, jsonScript, monitorUrl, toast } from "./core.js";
import * as realtime from "./realtime.js";

const DAY_CHIPS = 7;
const KEPT = new Set(["checked_in", "done"]); // a stop the operator is at, or has done

const root = document.getElementById("routes");
const organizations = jsonScript("route-organizations", []);
const operators = jsonScript("route-operators", []);
const statusLabels = jsonScript("visit-status-labels");
const reasonLabels = jsonScript("reason-labels");
const dateInput = document.getElementById("routes-date");
const organizationSelect = document.getElementById("routes-organization");
const board = document.getElementById("routes-board");
const daysEl = document.getElementById("routes-days");
const errorEl = document.getElementById("routes-error");
const emptyEl = document.getElementById("routes-empty");
const planButton = document.getElementById("routes-plan");
const unassignedCard = document.getElementById("routes-unassigned");
const unassignedList = document.getElementById("routes-unassigned-list");

const routes = new Map(); // operatorId -> RouteDocument of the shown day
let generation = 0;
let dragging = null; // {visitId, operatorId} of the card being dragged

const organizationId = () => (organizationSelect ? organizationSelect.value : organizations[0]?.id);
const zone = () => organizations.find((o) => o.id === organizationId())?.timeZone || config.timeZone;

/** A day (YYYY-MM-DD) in the organization's time zone: route dates are its local days. */
function localDay(date = new Date()) {
  return date.toLocaleDateString("en-CA", { timeZone: zone() });
}

function shiftDays(iso, days) {
  const date = new Date(`${iso}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

function showError(message) {
  errorEl.textContent = message || "";
  errorEl.hidden = !message;
}

// Django's catalog's plural forms; call `ngettext(...)` itself so `makemessages` finds it.
const ngettext = (singular, plural, n) => (window.ngettext ? window.ngettext(singular, plural, n) : n === 1 ? singular : plural);

/** "Coffee 1,000 g (2 packs) · Milk 300 g": what to bring to one stop. An item without a
 * pack size is issued by the gram or the piece (packs of one): no pack count for it. */
function bringText(visit) {
  return visit.lines
    .filter((line) => line.plannedQuantity > 0)
    .map((line) => {
      const packed = line.packs > 0 && line.packs < line.plannedQuantity;
      const packs = packed ? ` (${fmt(ngettext("%(n)s pack", "%(n)s packs", line.packs), { n: line.packs })})` : "";
      return `${line.name} ${formatNumber(line.plannedQuantity, 0)} ${line.unit}${packs}`;
    })
    .join(" · ");
}

function dayLabel(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(config.lang, {
    weekday: "short", day: "numeric", month: "short", timeZone: "UTC",
  });
}

/** The next days a stop may be dragged (or moved) to, from today in the organization. */
function nextDays() {
  const first = localDay();
  return Array.from({ length: DAY_CHIPS }, (_, i) => shiftDays(first, i));
}

/** "Move to…": the same moves as dragging, for a keyboard, a screen reader or a phone. */
function moveMenu(visit, route) {
  const operatorsHere = columnsOf().filter((operator) => operator.id !== route.operatorId);
  const days = nextDays().filter((day) => day !== route.date);
  const select = h("select", { class: "stop-move", "aria-label": gettext("Move to"), draggable: "false" },
    h("option", { value: "", text: gettext("Move to…") }),
    h("optgroup", { label: gettext("Operator") },
      ...operatorsHere.map((operator) => h("option", { value: `operatorId:${operator.id}`, text: operator.name }))),
    h("optgroup", { label: gettext("Day") },
      ...days.map((day) => h("option", { value: `date:${day}`, text: dayLabel(day) }))));
  select.addEventListener("change", () => {
    const [key, value] = select.value.split(":");
    if (!key) return;
    move(visit.id, { [key]: key === "operatorId" ? Number(value) : value });
  });
  return select;
}

function stopCard(visit, route) {
  const movable = !KEPT.has(visit.status);
  const card = h(
    "li",
    {
      class: `stop-card stop-${visit.status}${visit.pinned ? " stop-pinned" : ""}`,
      draggable: movable ? "true" : "false",
      dataset: { visitId: visit.id, machineId: visit.machineId, status: visit.status, sequence: visit.sequence },
    },
    h("div", { class: "stop-head" },
      h("span", { class: "stop-number", text: String(visit.sequence) }),
      h("a", { class: "stop-machine", href: monitorUrl(visit.machineId), text: visit.machineName, draggable: "false" }),
      h("span", { class: "stop-time", text: formatTime(visit.plannedArrival) })),
    h("div", { class: "stop-tags" },
      h("span", { class: `tag stop-status-${visit.status}`, text: statusLabels[visit.status] || visit.status }),
      ...visit.reasons.map((reason) => h("span", { class: "tag tag-kind", text: reasonLabels[reason] || reason })),
      // A stop a manager moved says so once (its reasons carry "manual" too).
      visit.pinned && !visit.reasons.includes("manual") ? h("span", { class: "tag", text: gettext("Placed by a manager") }) : null),
    bringText(visit) ? h("p", { class: "stop-bring", text: bringText(visit) }) : null,
    movable ? moveMenu(visit, route) : null,
  );
  if (movable) {
    card.addEventListener("dragstart", (event) => {
      dragging = { visitId: visit.id, operatorId: route.operatorId };
      event.dataTransfer.setData("text/plain", visit.id);
      event.dataTransfer.effectAllowed = "move";
      card.classList.add("dragging");
    });
    card.addEventListener("dragend", () => {
      card.classList.remove("dragging");
      dragging = null;
    });
  }
  return card;
}

function summary(route) {
  if (!route) return gettext("No stops");
  const parts = [
    fmt(ngettext("%(n)s stop", "%(n)s stops", route.visits.length), { n: route.visits.length }),
    `${formatNumber(route.distanceM / 1000, 1)} km`,
    `${formatNumber(route.loadGrams / 1000, 1)} kg`,
  ];
  if (route.startsAt) parts.push(`${formatTime(route.startsAt)}–${formatTime(route.endsAt)}`);
  return parts.join(" · ");
}

/** A drop target: highlighted while a card that may go there hovers, `onDrop(visitId)`. */
function dropZone(el, accepts, onDrop) {
  el.addEventListener("dragover", (event) => {
    if (!dragging || !accepts(dragging)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    el.classList.add("drop-target");
  });
  el.addEventListener("dragleave", (event) => {
    if (!el.contains(event.relatedTarget)) el.classList.remove("drop-target");
  });
  el.addEventListener("drop", (event) => {
    el.classList.remove("drop-target");
    if (!dragging || !accepts(dragging)) return;
    event.preventDefault();
    const { visitId } = dragging;
    dragging = null;
    onDrop(visitId);
  });
}

function column(operator) {
  const route = routes.get(operator.id);
  const pickList = route ? root.dataset.pickListUrl.replace("00000000-0000-0000-0000-000000000000", route.id) : null;
  const el = h(
    "section",
    { class: "route-column", dataset: { operatorId: operator.id, routeId: route ? route.id : "", version: route ? route.version : "" } },
    h("div", { class: "route-head" },
      h("h2", { class: "route-operator", text: operator.name }),
      pickList ? h("a", { class: "button button-small route-pick-list", href: pickList, text: gettext("Pick list") }) : null),
    h("p", { class: "route-summary muted", text: summary(route) }),
    h("ol", { class: "route-stops" }, ...(route ? route.visits.map((visit) => stopCard(visit, route)) : [])),
  );
  dropZone(el, (drag) => drag.operatorId !== operator.id,
    (visitId) => move(visitId, { operatorId: operator.id }));
  return el;
}

/** The columns: the organization's operators, and anyone else who has a route that day. */
function columnsOf() {
  const shown = operators.filter((operator) => operator.organizationId === organizationId());
  const known = new Set(shown.map((operator) => operator.id));
  for (const route of routes.values()) {
    if (!known.has(route.operatorId)) shown.push({ id: route.operatorId, name: route.operatorName });
  }
  return shown;
}

function render() {
  const shown = columnsOf();
  board.replaceChildren(...shown.map(column));
  emptyEl.hidden = shown.length > 0;
}

function renderDays() {
  daysEl.replaceChildren(...nextDays().map((day) => {
    const chip = h("button", {
      type: "button", role: "listitem", class: "route-day", dataset: { date: day },
      "aria-pressed": day === dateInput.value ? "true" : "false", text: dayLabel(day),
      onclick: () => { dateInput.value = day; showDay(); },
    });
    dropZone(chip, () => day !== dateInput.value, (visitId) => move(visitId, { date: day }));
    return chip;
  }));
}

/** A route as the server sent it (REST or `route:updated`): shown if it is of this day. */
function applyRoute(route) {
  if (!route || route.organizationId !== organizationId() || route.date !== dateInput.value) return false;
  const held = routes.get(route.operatorId);
  if (held && held.id === route.id && held.version > route.version) return false;
  routes.set(route.operatorId, route);
  return true;
}

async function load() {
  const mine = ++generation;
  root.dataset.loaded = "false";
  renderDays();
  const params = new URLSearchParams({ date: dateInput.value, organization: organizationId(), page_size: "500" });
  try {
    const found = await apiAll(`${root.dataset.routesUrl}?${params}`);
    if (mine !== generation) return;
    routes.clear();
    for (const route of found) applyRoute(route);
    showError("");
  } catch (error) {
    if (mine !== generation) return;
    showError(error.detail || String(error));
  }
  render();
  root.dataset.loaded = "true";
}

function errorText(error) {
  if (!(error instanceof ApiError)) return String(error);
  try {
    const body = JSON.parse(error.detail);
    return Object.values(body).flat().join(" ");
  } catch {
    return error.detail;
  }
}

async function move(visitId, body) {
  root.dataset.moving = "true";
  try {
    const answer = await api(`/api/v1/visits/${visitId}/move/`, { method: "POST", body });
    // The stop left every other route (its old one may be gone, or on another day).
    for (const [operatorId, route] of routes) {
      if (answer.to && route.id === answer.to.id) continue;
      if (route.visits.some((visit) => visit.id === visitId)) {
        routes.set(operatorId, { ...route, visits: route.visits.filter((visit) => visit.id !== visitId) });
      }
    }
    for (const route of [answer.from, answer.to]) applyRoute(route);
    render();
    showError("");
  } catch (error) {
    toast(gettext("The stop could not move"), errorText(error), { kind: "error" });
  } finally {
    root.dataset.moving = "false";
  }
}

// Why the plan left a machine out (`unassigned[].why`; `unroutable`: no coordinates).
const WHY = {
  capacity: gettext("The vans are full"),
  time: gettext("No time left in the shifts"),
  no_operator: gettext("No operator to send"),
  no_depot: gettext("No depot to start from"),
  unroutable: gettext("No location"),
};

function unassignedItem(machine) {
  const reasons = (machine.reasons || []).map((reason) => reasonLabels[reason] || reason);
  return h("li", { dataset: { machineId: machine.machineId } },
    h("a", { href: monitorUrl(machine.machineId), text: machine.machineName }),
    h("span", { class: "muted", text: ` ${[WHY[machine.why] || machine.why, ...reasons].join(" · ")}` }));
}

async function plan() {
  planButton.disabled = true;
  try {
    const answer = await api("/api/v1/routes/plan/", {
      method: "POST", body: { date: dateInput.value, organization: organizationId() },
    });
    const left = [...(answer.unassigned || []),
      ...(answer.unroutable || []).map((machine) => ({ ...machine, why: "unroutable" }))];
    unassignedList.replaceChildren(...left.map(unassignedItem));
    unassignedCard.hidden = left.length === 0;
    routes.clear();
    for (const route of answer.routes || []) applyRoute(route);
    render();
    root.dataset.plans = String(Number(root.dataset.plans || 0) + 1);
  } catch (error) {
    toast(gettext("The day could not be planned"), errorText(error), { kind: "error" });
  } finally {
    planButton.disabled = false;
  }
}

/** Another day or organization: what a plan left out of the last one no longer applies. */
function showDay() {
  unassignedCard.hidden = true;
  load();
}

dateInput.value = localDay();
dateInput.addEventListener("change", () => dateInput.value && showDay());
organizationSelect?.addEventListener("change", showDay);
planButton.addEventListener("click", plan);

for (const id of jsonScript("organization-ids", [])) realtime.subscribe(`org:${id}`);
realtime.on("route:updated", (route) => {
  if (applyRoute(route)) render();
});
// After a reconnect the events of the gap are not replayed: read the day again.
realtime.onResync(() => load());
load();
