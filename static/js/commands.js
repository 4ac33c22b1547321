// The Commands card of a machine's monitor (managers): send a command (maintenance on/off,
// reboot, request an audit, set a selection's price: POST /api/v1/machines/{id}/commands/)
// and follow each one queued → delivered → acknowledged / failed / expired, live from
// `machine:command` in the machine's room; the list is read again on load and on resync.

import { api, fmt, formatDateTime, gettext, h } from "./core.js";
import * as realtime from "./realtime.js";

const SHOWN = 20;
const KINDS = {
  enter_maintenance: gettext("Maintenance on"),
  leave_maintenance: gettext("Maintenance off"),
  reboot: gettext("Reboot"),
  set_price: gettext("Set price"),
  request_audit: gettext("Request audit"),
};
const STATES = {
  queued: gettext("Queued"),
  delivered: gettext("Delivered"),
  acknowledged: gettext("Acknowledged"),
  failed: gettext("Failed"),
  expired: gettext("Expired"),
};
// A command only moves forward: an event that arrives after a later one (the POST's answer
// after the socket's `delivered`) must not move it back.
const RANK = { queued: 0, delivered: 1, acknowledged: 2, failed: 2, expired: 2 };

export function commandText(command) {
  const kind = KINDS[command.kind] || command.kind;
  if (command.kind !== "set_price") return kind;
  return fmt(gettext("%(kind)s: %(selection)s → %(price)s"), {
    kind, selection: command.params.selection, price: command.params.price,
  });
}

function commandRow(command) {
  const times = command.timestamps || {};
  const error = command.result && command.result.error;
  return h(
    "li",
    { class: "command-row", dataset: { commandId: command.commandId, state: command.state } },
    h("span", { class: "command-kind", text: commandText(command) }),
    h("span", { class: `tag command-state command-${command.state}`, text: STATES[command.state] || command.state }),
    h("span", { class: "muted command-time", text: formatDateTime(times.answeredAt || times.deliveredAt || times.createdAt) }),
    error ? h("span", { class: "command-error", text: error }) : null,
  );
}

/** Fill the Commands card (`#commands-card`) of machine `machineId` and wire its buttons. */
export function initCommands(card, machineId) {
  const list = card.querySelector("#commands");
  const empty = card.querySelector("#commands-empty");
  const status = card.querySelector("#command-status");
  const priceForm = card.querySelector("#command-price");
  const shown = new Map();

  function draw() {
    const commands = [...shown.values()]
      .sort((a, b) => b.timestamps.createdAt.localeCompare(a.timestamps.createdAt))
      .slice(0, SHOWN);
    list.replaceChildren(...commands.map(commandRow));
    empty.hidden = commands.length > 0;
  }

  function update(command) {
    if (!command || command.machineId !== machineId) return;
    const known = shown.get(command.commandId);
    if (known && RANK[known.state] > RANK[command.state]) return;
    shown.set(command.commandId, command);
    draw();
  }

  async function load() {
    const page = await api(`/api/v1/machines/${machineId}/commands/?page_size=${SHOWN}`);
    shown.clear();
    page.results.forEach((command) => shown.set(command.commandId, command));
    draw();
    card.dataset.loaded = "true";
  }

  async function send(kind, params = {}) {
    status.textContent = "";
    try {
      update(await api(`/api/v1/machines/${machineId}/commands/`, {
        method: "POST", body: { kind, params },
      }));
      return true;
    } catch (error) {
      status.textContent = fmt(gettext("Not sent: %(reason)s"), { reason: error.message });
      return false;
    }
  }

  card.querySelectorAll("[data-command]").forEach((button) => {
    button.addEventListener("click", () => send(button.dataset.command));
  });
  priceForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(priceForm);
    const sent = await send("set_price", {
      selection: String(data.get("selection")).trim(), price: Number(data.get("price")),
    });
    if (sent) priceForm.reset();
  });
  realtime.on("machine:command", update);
  return { load };
}
