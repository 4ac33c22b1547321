// The operator's route of the day on their phone: the next stop (machine, address, a
// navigation link, what to bring), the actions at the machine, and every stop's status.
//
// Works on a flaky connection: every action gets a client id and goes into a queue kept in
// localStorage; the queue is sent in order now if the phone is online, else when it comes
// back (the `online` event, a reconnect, the next page load). The server applies each
// client id once, so a replay after a dropped answer is harmless. While actions wait, the
// page shows their effect at once and "waiting to send (n)".
// Live: `route:updated` on the operator's board room (`tasks:{id}`) brings a manager's
// re-plan, and every other change of the route, as a whole route document.

import { ApiError, api, config, csrfToken, fmt, formatNumber, gettext, h, jsonScript, mapsUrl, monitorUrl, toast } from "./core.js";
import * as realtime from "./realtime.js";

const page = document.getElementById("route-page");
const statusLabels = jsonScript("visit-status-labels");
const QUEUE_KEY = `vendhub.route.queue.${config.userId}`;
const FINISHED = ["done", "skipped"];

let routes = []; // RouteDocument[] of today, as the server last sent them
let sending = false;

const $ = (id) => document.getElementById(id);

// -- the queue ------------------------------------------------------------------------------

function queued() {
  try {
    return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
  } catch {
    return [];
  }
}

function saveQueue(items) {
  localStorage.setItem(QUEUE_KEY, JSON.stringify(items));
}

/** A UUID v4 from the browser's random source (crypto.randomUUID needs a secure context,
 * and a deployment may be served over plain HTTP). */
function clientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function act(visit, kind, payload = {}) {
  saveQueue([...queued(), { clientId: clientId(), visitId: visit.id, kind, payload }]);
  render();
  flush();
}

/** Send the queue in order. A refused action (400, 403, 404) is dropped and said; a
 * network failure or a server error stops here and keeps the rest for later. */
async function flush() {
  if (sending || !navigator.onLine) return;
  sending = true;
  try {
    for (;;) {
      const [next] = queued();
      if (!next) break;
      try {
        const answer = await api(`/api/v1/visits/${next.visitId}/actions/`, {
          method: "POST", body: { clientId: next.clientId, kind: next.kind, payload: next.payload } });
        dequeue(next.clientId);
        upsert(answer.route);
      } catch (error) {
        if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 429) {
          dequeue(next.clientId);
          toast(gettext("An action was refused"), error.detail || "", { kind: "error" });
          render();
        } else {
          break; // offline or the server is down: try again when back
        }
      }
    }
  } finally {
    sending = false;
    render();
  }
}

function dequeue(id) {
  saveQueue(queued().filter((item) => item.clientId !== id));
}

// -- state -----------------------------------------------------------------------------------

/** The route as the server sent it, with the queued actions' effects on top. */
function withQueued(route) {
  const copy = structuredClone(route);
  for (const item of queued()) {
    const visit = copy.visits.find((v) => v.id === item.visitId);
    if (!visit) continue;
    if (item.kind === "check_in") visit.status = "checked_in";
    else if (item.kind === "check_out") visit.status = "done";
    else if (item.kind === "skip") visit.status = "skipped";
    else if (item.kind === "fill") {
      for (const line of item.payload.lines) {
        const found = visit.lines.find((l) => l.id === line.lineId);
        if (found) found.filledQuantity = line.filledQuantity;
      }
    }
  }
  return copy;
}

function upsert(route) {
  if (!route || String(route.operatorId) !== String(config.userId)) return;
  const at = routes.findIndex((r) => r.id === route.id);
  if (at >= 0 && routes[at].version > route.version) return;
  if (at >= 0) routes[at] = route;
  else routes.push(route);
  render();
}

async function load() {
  routes = await api("/api/v1/routes/mine/");
  page.dataset.loaded = "true";
  render();
  flush();
}

// -- rendering -------------------------------------------------------------------------------

function allVisits() {
  return routes.map(withQueued).flatMap((route) => route.visits);
}

function nextVisit(visits) {
  return visits.find((v) => v.status === "checked_in") || visits.find((v) => v.status === "planned") || null;
}

function render() {
  const visits = allVisits();
  const done = visits.filter((v) => FINISHED.includes(v.status)).length;
  $("route-empty").hidden = routes.length > 0;
  $("route-progress").textContent = visits.length
    ? fmt(gettext("%(done)s of %(total)s done"), { done, total: visits.length }) : "";
  const waiting = queued().length;
  $("route-queue").hidden = waiting === 0;
  $("route-queue").textContent = fmt(gettext("waiting to send (%(count)s)"), { count: waiting });
  page.dataset.queued = String(waiting);
  renderNext(nextVisit(visits));
  $("route-stops").replaceChildren(...visits.map((visit) => h("li", {
    dataset: { visitId: visit.id, status: visit.status } },
  h("span", { class: "stop-name", text: visit.machineName }),
  h("span", { class: "stop-status", text: statusLabels[visit.status] || visit.status }))));
}

let shownVisit = null; // the next stop's id and status: its inputs are rebuilt only on change

function renderNext(visit) {
  const card = $("next-stop");
  card.hidden = !visit;
  if (!visit) { shownVisit = null; return; }
  card.dataset.visitId = visit.id;
  card.classList.toggle("is-checked-in", visit.status === "checked_in");
  const key = `${visit.id}|${visit.status}|${JSON.stringify(visit.lines)}`;
  if (shownVisit === key) return;
  shownVisit = key;
  $("stop-number").textContent = `#${visit.sequence}`;
  $("stop-machine").textContent = visit.machineName;
  $("stop-machine").href = monitorUrl(visit.machineId);
  $("stop-address").textContent = visit.address || "";
  const url = mapsUrl(visit.lat, visit.lng);
  $("stop-navigate").hidden = !url;
  if (url) $("stop-navigate").href = url;
  $("stop-lines").replaceChildren(...visit.lines.map((line) => h("li", { class: "stop-line" },
    h("span", { class: "line-name", text: `${line.name}: ${formatNumber(line.plannedQuantity, 0)} ${line.unit === "g" ? "g" : gettext("pcs")}` }),
    h("input", {
      type: "number", min: "0", step: "1", inputmode: "numeric", name: "filled",
      dataset: { lineId: line.id },
      value: String(line.filledQuantity ?? line.plannedQuantity),
      "aria-label": fmt(gettext("Filled: %(name)s"), { name: line.name }),
    }))));
}

function current() {
  return allVisits().find((v) => v.id === $("next-stop").dataset.visitId);
}

$("check-in").addEventListener("click", () => {
  const visit = current();
  if (!visit) return;
  // The phone's location when it gives it at once; the check-in never waits for it.
  if (navigator.geolocation && navigator.onLine) {
    navigator.geolocation.getCurrentPosition(
      (position) => act(visit, "check_in", { lat: position.coords.latitude, lng: position.coords.longitude }),
      () => act(visit, "check_in"), { timeout: 3000, maximumAge: 60000 });
  } else {
    act(visit, "check_in");
  }
});

$("fill-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const visit = current();
  if (!visit) return;
  const lines = [...$("stop-lines").querySelectorAll("input[data-line-id]")]
    .filter((input) => input.value.trim() !== "")
    .map((input) => ({ lineId: input.dataset.lineId, filledQuantity: Number(input.value) }));
  if (!lines.length || lines.some((line) => !Number.isInteger(line.filledQuantity) || line.filledQuantity < 0)) {
    toast(gettext("Enter what you filled"), gettext("A whole number, 0 or more."), { kind: "warning" });
    return;
  }
  act(visit, "fill", { lines });
  toast(gettext("Fills recorded"), "", { kind: "success", timeout: 3000 });
});

$("cash-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const visit = current();
  const amount = Number($("cash-amount").value);
  if (!visit || !Number.isInteger(amount) || amount < 0) return;
  act(visit, "cash", { amount });
  $("cash-amount").value = "";
});

$("note-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const visit = current();
  const text = $("note-text").value.trim();
  if (!visit || !text) return;
  act(visit, "note", { text });
  $("note-text").value = "";
});

$("check-out").addEventListener("click", () => {
  const visit = current();
  if (visit) act(visit, "check_out");
});

$("skip").addEventListener("click", () => {
  const visit = current();
  if (!visit) return;
  const reason = window.prompt(gettext("Why is this stop skipped?"));
  if (reason && reason.trim()) act(visit, "skip", { reason: reason.trim() });
});

// A photo is sent at once: an image is too big for the page's queue.
$("photo-input").addEventListener("change", async (event) => {
  const visit = current();
  const [file] = event.target.files;
  event.target.value = "";
  if (!visit || !file) return;
  if (!navigator.onLine) {
    toast(gettext("The photo needs a connection"), gettext("Take it again when you are back online."), { kind: "warning" });
    return;
  }
  const form = new FormData();
  form.append("photo", file);
  const response = await fetch(`/api/v1/visits/${visit.id}/photo/`, {
    method: "POST", body: form, credentials: "same-origin",
    headers: { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content },
  }).catch(() => null);
  if (response && response.ok) toast(gettext("Photo sent"), "", { kind: "success", timeout: 3000 });
  else toast(gettext("Could not send the photo"), response ? response.statusText : "", { kind: "error" });
});

window.addEventListener("online", flush);
realtime.subscribe(`tasks:${config.userId}`);
realtime.on("route:updated", upsert);
realtime.onResync(() => load().catch((error) => console.warn("route:", error)));
load().catch((error) => console.warn("route:", error));
