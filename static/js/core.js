// Small helpers shared by the dashboard's page scripts: REST calls, translations, toasts,
// time formatting. No framework, no build step.

const body = document.body;

/** Configuration the server rendered on <body> (see templates/base.html). */
export const config = {
  userId: body.dataset.userId || "",
  tokenUrl: body.dataset.tokenUrl || "",
  loginUrl: body.dataset.loginUrl || "/login/",
  monitorUrlTemplate: body.dataset.monitorUrl || "",
  lang: document.documentElement.lang || "en",
  // The server's time zone (TIME_ZONE): every time on the pages is shown in it, whatever
  // the browser's, as the footer says. The API itself answers in UTC.
  timeZone: body.dataset.timeZone || undefined,
};

// Django's JavaScript catalog (/jsi18n/) defines these globals; fall back to identity.
// Call `gettext("literal")` itself (not a wrapper): `makemessages -d djangojs` looks for it.
export const gettext = (text) => (window.gettext ? window.gettext(text) : text);
/** Fill `%(name)s` placeholders of an already translated string. */
export const fmt = (text, values) =>
  text.replace(/%\((\w+)\)s/g, (_, name) => String(values[name]));

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export function monitorUrl(machineId) {
  return config.monitorUrlTemplate.replace("00000000-0000-0000-0000-000000000000", machineId);
}

/** A link that opens the phone's map app at a place: the https form of Google Maps opens
 * its app on Android and iOS (and a browser map elsewhere), where a `geo:` URI works on
 * Android only. Null without coordinates. */
export function mapsUrl(lat, lng) {
  if (lat === null || lat === undefined || lng === null || lng === undefined) return null;
  return `https://www.google.com/maps/search/?api=1&query=${lat},${lng}`;
}

export function goToLogin() {
  const next = window.location.pathname + window.location.search;
  window.location.assign(`${config.loginUrl}?next=${encodeURIComponent(next)}`);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

/** JSON over the REST API with the session cookie (and the CSRF header for writes). */
export async function api(path, { method = "GET", body: payload } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    cache: "no-store",
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  if (response.status === 401) {
    goToLogin();
    throw new ApiError(401, "not signed in");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && (data.detail || JSON.stringify(data));
    throw new ApiError(response.status, detail || response.statusText);
  }
  return data;
}

/** Every item of a paginated list endpoint ({count, next, results}), following `next`. */
export async function apiAll(path, limit = 1000) {
  const items = [];
  let url = path;
  while (url && items.length < limit) {
    const page = await api(url);
    if (Array.isArray(page)) return page;
    items.push(...page.results);
    // Same origin whatever host the server put in `next` (it may sit behind a proxy).
    const next = page.next ? new URL(page.next, window.location.origin) : null;
    url = next ? next.pathname + next.search : null;
  }
  return items;
}

/** Create an element: h("li", {class: "x", dataset: {id: 1}}, child, "text"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    // Through the CSSOM: a `style` attribute is inline style, which the Content-Security-Policy
    // (style-src 'self') refuses.
    else if (key === "style") el.style.cssText = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A transient message in the corner. kind: info | success | warning | error. */
export function toast(title, message = "", { kind = "info", timeout = 8000 } = {}) {
  const container = document.getElementById("toasts");
  if (!container) return null;
  const el = h(
    "div",
    { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("div", { class: "toast-body" }, h("strong", { class: "toast-title", text: title }),
      message ? h("p", { class: "toast-message", text: message }) : null),
    h("button", { type: "button", class: "toast-close", "aria-label": gettext("Close"), text: "×",
      onclick: () => el.remove() }),
  );
  container.prepend(el);
  if (timeout) setTimeout(() => el.remove(), timeout);
  return el;
}

/** Parse JSON rendered by Django's json_script. */
export function jsonScript(id, fallback = {}) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : fallback;
}

/** "12 s ago", "5 min ago", "3 h ago", or a date for anything older than a day. */
export function ago(iso, now = Date.now()) {
  if (!iso) return gettext("never");
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return fmt(gettext("%(n)s s ago"), { n: seconds });
  if (seconds < 3600) return fmt(gettext("%(n)s min ago"), { n: Math.floor(seconds / 60) });
  if (seconds < 86400) return fmt(gettext("%(n)s h ago"), { n: Math.floor(seconds / 3600) });
  return formatDateTime(iso);
}

export function formatDateTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(config.lang, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    timeZone: config.timeZone,
  });
}

/** "14:05" in the pages' time zone. */
export function formatTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString(config.lang, {
    hour: "2-digit", minute: "2-digit", timeZone: config.timeZone,
  });
}

/** Whether `iso` falls on today's date in the pages' time zone. */
export function isToday(iso) {
  const day = (date) => date.toLocaleDateString("en-CA", { timeZone: config.timeZone });
  return day(new Date(iso)) === day(new Date());
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days) return fmt(gettext("%(d)s d %(h)s h"), { d: days, h: hours });
  if (hours) return fmt(gettext("%(h)s h %(m)s min"), { h: hours, m: minutes });
  return fmt(gettext("%(m)s min"), { m: minutes });
}

export function formatNumber(value, digits = 1) {
  return Number(value).toLocaleString(config.lang, {
    minimumFractionDigits: 0, maximumFractionDigits: digits,
  });
}

/** What arrives live while REST fetches are on their way. A fetched state may predate it
 * (the server answered before the change, the answer came after the event): whoever shows
 * the fetched state applies these items on top, so a refetch never undoes a live update. */
export class LiveDuringFetch {
  constructor() {
    this.open = new Set(); // one array per fetch under way
  }

  /** Note a live item for every fetch under way. */
  record(item) {
    for (const items of this.open) items.push(item);
  }

  /** `[await fetcher(), the items recorded meanwhile, in arrival order]`. */
  async fetch(fetcher) {
    const items = [];
    this.open.add(items);
    try {
      return [await fetcher(), items];
    } finally {
      this.open.delete(items);
    }
  }
}
