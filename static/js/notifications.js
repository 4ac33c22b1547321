// The notification centre in the header of every page: the bell with the unread count,
// the dropdown list, toasts for high-priority notifications, mark read / mark all read.
// Live from the user's room `user:{id}`: `notification` (a new one, or one marked read or
// unread anywhere) and `notifications:read` (ids changed by "mark all read"), so every tab
// and device of the user shows the same count. The count and the list
// are refetched over REST after every reconnect. A refetch may answer after a notification
// it predates: the ids it counted tell what to add on top, and what not to count twice.

import { LiveDuringFetch, api, config, formatDateTime, h, monitorUrl, gettext, toast } from "./core.js";
import * as realtime from "./realtime.js";

const API = "/api/v1/notifications/";
const LIST_SIZE = 20;
const UNREAD_PAGE = 100; // the badge shows "99+" beyond

const button = document.getElementById("bell-button");
const panel = document.getElementById("notification-panel");
const list = document.getElementById("notification-list");
const empty = document.getElementById("notification-empty");
const badge = document.getElementById("unread-count");
const markAll = document.getElementById("mark-all-read");

let unread = 0;
let items = []; // newest first
let loaded = false;
let counted = new Set(); // ids of unread notifications the count includes (the newest ones)
const arrived = new LiveDuringFetch(); // notifications received while fetching
const toasted = new Set(); // ids already shown as a toast

function setUnread(count) {
  unread = Math.max(0, count);
  badge.dataset.count = String(unread);
  badge.textContent = unread > 99 ? "99+" : String(unread);
  badge.hidden = unread === 0;
  button.classList.toggle("has-unread", unread > 0);
  markAll.disabled = unread === 0;
}

function render() {
  list.replaceChildren(...items.map(renderItem));
  empty.hidden = items.length > 0;
}

function renderItem(notification) {
  const li = h(
    "li",
    {
      class: `notification notification-${notification.type || "info"}${notification.read ? "" : " unread"}`,
      dataset: { id: notification.id, priority: notification.priority || "medium" },
    },
    h("span", { class: "notification-marker", "aria-hidden": "true" }),
    h(
      "div",
      { class: "notification-body" },
      h("strong", { class: "notification-title", text: notification.title }),
      notification.message ? h("p", { class: "notification-message", text: notification.message }) : null,
      h(
        "div",
        { class: "notification-meta" },
        h("time", { datetime: notification.createdAt, text: formatDateTime(notification.createdAt) }),
        notification.priority === "high" ? h("span", { class: "tag tag-high", text: gettext("High") }) : null,
        notification.machineId
          ? h("a", { href: monitorUrl(notification.machineId), text: gettext("Open machine") })
          : null,
      ),
    ),
    notification.read
      ? null
      : h("button", {
          type: "button",
          class: "link-button mark-read",
          text: gettext("Mark read"),
          onclick: (event) => {
            event.stopPropagation();
            markRead(notification);
          },
        }),
  );
  return li;
}

async function loadCount() {
  // The unread ones themselves, not just a total: their ids tell which live ones are counted.
  const [page, newer] = await arrived.fetch(() => api(`${API}?read=false&page_size=${UNREAD_PAGE}`));
  counted = new Set(page.results.map((notification) => notification.id));
  // The API counts and lists in two queries, which a new notification may fall between; the
  // list is the later view, and complete unless there is a next page (99+ shows then).
  setUnread(page.next ? page.count : page.results.length);
  for (const change of newer) applyRead(change.id, change.read);
}

async function loadList() {
  const [page, newer] = await arrived.fetch(() => api(`${API}?page_size=${LIST_SIZE}`));
  items = page.results;
  for (const change of newer) {
    const item = items.find((candidate) => candidate.id === change.id);
    if (item) Object.assign(item, change);
    else if ("title" in change && !change.read) items.unshift(change);
  }
  items = items.slice(0, LIST_SIZE);
  loaded = true;
  render();
}

async function resync() {
  await loadCount();
  if (loaded || !panel.hidden) await loadList();
}

/** A notification became read (or unread): count it once, whichever tab or event says so. */
function applyRead(id, read) {
  const item = items.find((candidate) => candidate.id === id);
  if (item) item.read = read;
  if (read) {
    if (counted.delete(id)) setUnread(unread - 1);
  } else if (!counted.has(id)) {
    counted.add(id);
    setUnread(unread + 1);
  }
}

async function markRead(notification) {
  try {
    await api(`${API}${notification.id}/read/`, { method: "POST" });
    applyRead(notification.id, true);
    render();
  } catch (error) {
    toast(gettext("Could not mark the notification read"), error.detail || "", { kind: "error" });
  }
}

async function markAllRead() {
  try {
    await api(`${API}read-all/`, { method: "POST" });
    for (const item of items) item.read = true;
    counted.clear();
    setUnread(0);
    render();
  } catch (error) {
    toast(gettext("Could not mark the notifications read"), error.detail || "", { kind: "error" });
  }
}

function onNotification(notification) {
  if (!notification || !notification.id) return;
  arrived.record(notification);
  const item = items.find((candidate) => candidate.id === notification.id);
  if (item) Object.assign(item, notification);
  else if (!notification.read) items = [notification, ...items].slice(0, LIST_SIZE);
  // Each one counted once, even if a refetch in between already brought it (or it is replayed).
  applyRead(notification.id, notification.read);
  render();
  if (!notification.read && notification.priority === "high" && !toasted.has(notification.id)) {
    toasted.add(notification.id);
    const kind = ["error", "warning", "success"].includes(notification.type) ? notification.type : "info";
    const el = toast(notification.title, notification.message || "", { kind, timeout: 10000 });
    if (el) el.dataset.notificationId = notification.id;
  }
}

function onNotificationsRead(change) {
  if (!change || !Array.isArray(change.ids)) return;
  for (const id of change.ids) {
    arrived.record({ id, read: Boolean(change.read) });
    applyRead(id, Boolean(change.read));
  }
  render();
}

function openPanel(open) {
  panel.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (open) loadList().catch((error) => console.warn(error));
}

if (button && config.userId) {
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    openPanel(panel.hidden);
  });
  panel.addEventListener("click", (event) => event.stopPropagation());
  document.addEventListener("click", () => !panel.hidden && openPanel(false));
  document.addEventListener("keydown", (event) => event.key === "Escape" && openPanel(false));
  markAll.addEventListener("click", markAllRead);

  realtime.subscribe(`user:${config.userId}`);
  realtime.on("notification", onNotification);
  realtime.on("notifications:read", onNotificationsRead);
  realtime.onResync(resync);
  loadCount().catch((error) => console.warn("unread count:", error));
}
