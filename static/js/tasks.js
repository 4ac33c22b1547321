// The operator task board: to do / in progress / done for one operator (the signed-in
// operator, or the one a manager picked). Moving a card (buttons, or drag and drop on a
// desktop) PATCHes the task's status; cards move live from `task:updated` in the room
// `tasks:{assigneeId}`, and the board is refetched after every reconnect.

import {
  LiveDuringFetch, api, apiAll, config, fmt, formatDateTime, formatNumber, h, jsonScript, mapsUrl, monitorUrl, gettext,
  toast,
} from "./core.js";
import * as realtime from "./realtime.js";

const board = document.getElementById("board");
const picker = document.getElementById("operator-select");
const columns = jsonScript("board-columns", []).map((column) => column.status);
const kindLabels = jsonScript("kind-labels");
const statusLabels = jsonScript("task-status-labels");
const PRIORITY = { low: gettext("Low"), medium: gettext("Medium"), high: gettext("High") };
// The buttons a card shows in each column: [target status, label].
// "Reject": the operator cannot do it; it leaves the board and a manager hears of it.
const MOVES = {
  todo: [["in_progress", () => gettext("Start")], ["done", () => gettext("Done")], ["rejected", () => gettext("Reject")]],
  in_progress: [["todo", () => gettext("To do")], ["done", () => gettext("Done")], ["rejected", () => gettext("Reject")]],
  done: [["in_progress", () => gettext("Reopen")]],
};
const DONE_PAGE = 20;

let assigneeId = board.dataset.assigneeId;
const tasks = new Map(); // id -> task

const listFor = (status) => board.querySelector(`[data-cards-for="${status}"]`);

function sortKey(task) {
  // Open columns: soonest due first, which puts overdue tasks first, then today's, then later
  // ones (no due date last); done: most recently completed first.
  if (task.status === "done") return -Date.parse(task.completedAt || task.updatedAt || 0);
  return task.dueAt ? Date.parse(task.dueAt) : Number.MAX_SAFE_INTEGER;
}

const isOverdue = (task) => task.status !== "done" && task.dueAt && Date.parse(task.dueAt) < Date.now();
const isDueToday = (task) => task.dueAt && new Date(task.dueAt).toDateString() === new Date().toDateString();

/** A link that opens the phone's map app at the machine (core.mapsUrl). */
const navigateUrl = (task) => mapsUrl(task.machineLat, task.machineLng);

function whereAndWhat(task) {
  const url = navigateUrl(task);
  return [
    h("div", { class: "task-where" },
      task.machineAddress ? h("span", { class: "task-address", text: task.machineAddress }) : null,
      url ? h("a", {
        class: "button button-small task-navigate", href: url, target: "_blank", rel: "noopener",
        text: `➤ ${gettext("Navigate")}`,
      }) : null),
    task.refillGrams !== null && task.refillGrams !== undefined
      ? h("div", { class: "task-bring", text: fmt(gettext("Bring %(grams)s g of %(ingredient)s"), {
          grams: formatNumber(task.refillGrams, 0), ingredient: task.ingredientName || "",
        }) })
      : null,
  ];
}
// Collections recorded from this board: task id -> the answer (counted vs expected), shown
// on the card at once; after a reload the done card's notes (the server's text) say it.
const collected = new Map();

const money = (value) => formatNumber(value, 0);

/** A cash-collection card: an input for the counted amount and a button, while it is open;
 * counted vs expected once recorded here. */
function cashCollection(task) {
  if (task.kind !== "collection") return null;
  const done = collected.get(task.id);
  // The server's notes of a collection task say counted vs expected once it is recorded;
  // a person's notes do not, so the card says it then.
  if (done && !(task.status === "done" && task.textLanguage)) {
    return h("div", { class: "task-bring task-cash-result", text: fmt(
      gettext("Counted %(counted)s, expected %(expected)s: a difference of %(difference)s"), {
        counted: money(done.amount), expected: money(done.expected),
        difference: `${done.difference > 0 ? "+" : ""}${money(done.difference)}`,
      }) });
  }
  if (done || task.status === "done") return null;
  const amount = h("input", {
    type: "number", min: "0", step: "1", inputmode: "numeric", required: true,
    class: "task-cash-amount", name: "amount", "aria-label": gettext("Counted amount"),
    placeholder: gettext("Counted amount"),
  });
  const record = h("button", { type: "submit", class: "button button-small button-primary",
                               text: gettext("Record collection") });
  return h("form", {
    class: "task-actions task-cash", draggable: "false",
    onsubmit: (event) => {
      event.preventDefault();
      recordCollection(task, amount, record);
    },
  }, amount, record);
}

async function recordCollection(task, amountInput, button) {
  const amount = Number(amountInput.value);
  if (amountInput.value.trim() === "" || !Number.isInteger(amount) || amount < 0) {
    toast(gettext("Enter the counted amount"), gettext("A whole number, 0 or more."), { kind: "warning" });
    return;
  }
  button.disabled = true; // one collection per count: a second click must not record twice
  try {
    const answer = await api(`/api/v1/machines/${task.machine}/collections/`, {
      method: "POST", body: { amount } });
    collected.set(task.id, answer);
    toast(gettext("Collection recorded"), fmt(gettext("Counted %(counted)s, expected %(expected)s"), {
      counted: money(answer.amount), expected: money(answer.expected) }), { kind: "success" });
    upsert(await api(`/api/v1/tasks/${task.id}/`));
  } catch (error) {
    button.disabled = false;
    toast(gettext("Could not record the collection"), error.detail || "", { kind: "error" });
  }
}

function card(task) {
  const overdue = isOverdue(task);
  const el = h(
    "li",
    {
      class: `task-card priority-${task.priority}`,
      draggable: "true",
      dataset: { taskId: task.id, status: task.status },
    },
    h(
      "div",
      { class: "task-tags" },
      h("span", { class: "tag tag-kind", text: kindLabels[task.kind] || task.kind }),
      h("span", { class: `tag tag-${task.priority}`, text: PRIORITY[task.priority] || task.priority }),
      overdue ? h("span", { class: "tag tag-overdue", text: gettext("Overdue") }) : null,
      !overdue && task.status !== "done" && isDueToday(task) ? h("span", { class: "tag tag-today", text: gettext("Today") }) : null,
    ),
    h("strong", { class: "task-title", text: task.title }),
    h("a", { class: "task-machine", href: monitorUrl(task.machine), text: task.machineName }),
    ...whereAndWhat(task),
    task.dueAt
      ? h("div", { class: `task-due${overdue ? " overdue" : ""}` }, `${gettext("Due")}: `,
          h("time", { datetime: task.dueAt, text: formatDateTime(task.dueAt) }))
      : null,
    task.notes ? h("p", { class: "task-notes muted", text: task.notes }) : null,
    cashCollection(task),
    h(
      "div",
      { class: "task-actions" },
      (MOVES[task.status] || []).map(([target, label]) =>
        h("button", {
          type: "button",
          class: `button button-small move move-${target}`,
          dataset: { moveTo: target },
          title: statusLabels[target] || target,
          text: label(),
          onclick: () => move(task.id, target),
        })),
    ),
  );
  el.addEventListener("dragstart", (event) => {
    event.dataTransfer.setData("text/plain", task.id);
    event.dataTransfer.effectAllowed = "move";
    el.classList.add("dragging");
  });
  el.addEventListener("dragend", () => el.classList.remove("dragging"));
  return el;
}

// id -> {key, el}: a card keeps its element while its task is unchanged, so a refetch or
// an event about another card does not rebuild it (nor cancel a drag that is under way).
const cardEls = new Map();

function cardFor(task) {
  const key = `${isOverdue(task)}|${collected.has(task.id)}|${JSON.stringify(task)}`;
  const known = cardEls.get(task.id);
  if (known && known.key === key) return known.el;
  const el = card(task);
  cardEls.set(task.id, { key, el });
  return el;
}

function render() {
  for (const id of cardEls.keys()) if (!tasks.has(id)) cardEls.delete(id);
  for (const status of columns) {
    const items = [...tasks.values()].filter((task) => task.status === status);
    items.sort((a, b) => sortKey(a) - sortKey(b));
    const list = listFor(status);
    const els = items.map(cardFor);
    const same = els.length === list.children.length && els.every((el, i) => list.children[i] === el);
    if (!same) list.replaceChildren(...els);
    for (const badge of board.querySelectorAll(`[data-column-count="${status}"]`)) {
      badge.textContent = String(items.length);
    }
    list.closest(".column").classList.toggle("is-empty", items.length === 0);
  }
}

/** Put a task where it belongs on this board, or take it off (reassigned, cancelled).
 * Returns false when `task` is older than the state shown (nothing changes then). */
function place(task) {
  const current = tasks.get(task.id);
  if (current && current.updatedAt && task.updatedAt && Date.parse(task.updatedAt) < Date.parse(current.updatedAt)) {
    return false;
  }
  if (String(task.assignee) !== String(assigneeId) || !columns.includes(task.status)) {
    tasks.delete(task.id);
  } else {
    tasks.set(task.id, task);
  }
  return true;
}

// Task states learnt while a board fetch is on its way (live events, PATCH answers): the
// fetched list is applied first, then these on top (the newest `updatedAt` wins).
const learnt = new LiveDuringFetch();

/** A task state from the server (live event or PATCH answer): show it. */
function upsert(task) {
  learnt.record(task);
  if (place(task)) render();
}

async function move(id, status) {
  const task = tasks.get(id);
  if (!task || task.status === status) return;
  const before = { ...task };
  tasks.set(id, { ...task, status }); // optimistic: the card moves at once
  render();
  try {
    upsert(await api(`/api/v1/tasks/${id}/`, { method: "PATCH", body: { status } }));
  } catch (error) {
    tasks.set(id, before);
    render();
    toast(gettext("Could not move the task"), error.detail || "", { kind: "error" });
  }
}

const startOfToday = () => { const day = new Date(); day.setHours(0, 0, 0, 0); return day.toISOString(); };

// The Done column shows today's work; older work comes a page at a time ("Load more").
const moreDone = document.getElementById("load-more-done");
let doneBefore = null; // completedAt of the oldest done task loaded

async function load() {
  const wanted = assigneeId;
  const open = new URLSearchParams({ assignee: wanted, page_size: "200" });
  for (const status of columns) if (status !== "done") open.append("status", status);
  const today = new URLSearchParams({ assignee: wanted, status: "done", completedSince: startOfToday(), page_size: "200" });
  const [[items, done], newer] = await learnt.fetch(() => Promise.all([
    apiAll(`/api/v1/tasks/?${open}`), apiAll(`/api/v1/tasks/?${today}`)]));
  if (wanted !== assigneeId) return; // the manager picked someone else meanwhile
  tasks.clear();
  for (const task of [...items, ...done]) tasks.set(task.id, task);
  for (const task of newer) place(task);
  doneBefore = startOfToday();
  if (moreDone) moreDone.hidden = false;
  render();
  board.dataset.loaded = "true";
}

async function loadMoreDone() {
  const wanted = assigneeId;
  const query = new URLSearchParams({
    assignee: wanted, status: "done", completedBefore: doneBefore, ordering: "-completed_at", page_size: String(DONE_PAGE),
  });
  const page = await api(`/api/v1/tasks/?${query}`);
  if (wanted !== assigneeId) return;
  for (const task of page.results) if (!tasks.has(task.id)) place(task);
  const last = page.results[page.results.length - 1];
  if (last && last.completedAt) doneBefore = last.completedAt;
  moreDone.hidden = !page.next;
  render();
}

if (moreDone) {
  moreDone.addEventListener("click", () => loadMoreDone().catch((error) =>
    toast(gettext("Could not load older tasks"), error.detail || "", { kind: "error" })));
}

for (const status of columns) {
  const list = listFor(status);
  const column = list.closest(".column");
  column.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("drop-target");
  });
  column.addEventListener("dragleave", (event) => {
    if (!column.contains(event.relatedTarget)) column.classList.remove("drop-target");
  });
  column.addEventListener("drop", (event) => {
    event.preventDefault();
    column.classList.remove("drop-target");
    const id = event.dataTransfer.getData("text/plain");
    if (id) move(id, status);
  });
}

// Phones: one column at a time, picked with the tabs above the board.
for (const tab of board.querySelectorAll("[data-tab-for]")) {
  tab.addEventListener("click", () => {
    for (const other of board.querySelectorAll("[data-tab-for]")) {
      const active = other === tab;
      other.classList.toggle("active", active);
      other.setAttribute("aria-selected", String(active));
    }
    for (const column of board.querySelectorAll(".column")) {
      column.classList.toggle("active", column.dataset.status === tab.dataset.tabFor);
    }
  });
}

if (picker) {
  picker.addEventListener("change", () => {
    realtime.unsubscribe(`tasks:${assigneeId}`);
    assigneeId = picker.value;
    board.dataset.assigneeId = assigneeId;
    board.dataset.loaded = "false";
    const url = new URL(window.location.href);
    url.searchParams.set("operator", assigneeId);
    window.history.replaceState(null, "", url);
    tasks.clear();
    render();
    realtime.subscribe(`tasks:${assigneeId}`);
    load().catch((error) => console.warn("tasks:", error));
  });
}

realtime.subscribe(`tasks:${assigneeId}`);
// A title and notes the server wrote arrive in the room's language (the assignee's): a
// board read in another language shows the card at once and then fetches it in its own.
const pageLanguage = config.lang.split("-")[0];
realtime.on("task:updated", (task) => {
  if (!task || !task.id) return;
  upsert(task);
  if (task.textLanguage && task.textLanguage !== pageLanguage) {
    api(`/api/v1/tasks/${task.id}/`).then(upsert).catch((error) => console.warn("tasks:", error));
  }
});
realtime.onResync(load);
load().catch((error) => console.warn("tasks:", error));
