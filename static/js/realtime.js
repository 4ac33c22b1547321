// The page's one Socket.IO connection to the gateway at /socket.io/.
//
// - Authenticates with a short-lived JWT from /dashboard/token/ (session + CSRF). `auth` is a
//   function, so every (re)connect fetches a fresh token; before the token expires it is
//   refreshed in place with `auth:refresh`, and if the server closes the socket anyway
//   (expired token) we reconnect ourselves.
// - Keeps a registry of rooms: on every connect each room is subscribed again, then each
//   page's `resync` callback refetches its state over REST, so nothing shown is stale after
//   a network blip (events sent while we were away are not replayed by the server).
// - Drives the connection indicator in the header.

import { config, csrfToken, goToLogin, gettext } from "./core.js";

const REFRESH_MARGIN_S = 60; // refresh the token this long before it expires
const RETRY_DELAYS_MS = [1000, 2000, 5000, 10000, 20000];

const rooms = new Map(); // room -> "pending" | "subscribed" | "refused"
const roomOptions = new Map(); // room -> extra subscribe payload, e.g. {batch: true}
const resyncCallbacks = new Set();
const listeners = [];
let socket = null;
let refreshTimer = null;
let retry = 0;
let retryTimer = null;

// -- connection indicator ------------------------------------------------------------------

const indicator = document.getElementById("connection");
const STATES = {
  connecting: () => gettext("Connecting…"),
  live: () => gettext("Live"),
  reconnecting: () => gettext("Reconnecting…"),
  offline: () => gettext("Offline"),
};

function setState(state) {
  if (!indicator) return;
  indicator.dataset.state = state;
  const label = indicator.querySelector(".conn-label");
  if (label) label.textContent = STATES[state]();
  indicator.title = STATES[state]();
}

// -- tokens ----------------------------------------------------------------------------------

async function fetchToken() {
  const response = await fetch(config.tokenUrl, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
  });
  if (response.status === 401 || response.status === 403) {
    // The session is gone (signed out in another tab, expired): back to the login form.
    goToLogin();
    throw new Error("not signed in");
  }
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  const { access, expiresAt } = await response.json();
  scheduleRefresh(expiresAt);
  return access;
}

function scheduleRefresh(expiresAt) {
  clearTimeout(refreshTimer);
  const delay = Math.max(5, expiresAt - Date.now() / 1000 - REFRESH_MARGIN_S) * 1000;
  refreshTimer = setTimeout(refreshToken, delay);
}

/** Extend the open socket's life with a fresh token (`auth:refresh`); resolves true on success. */
async function refreshToken() {
  if (!socket || !socket.connected) return false; // the next connect fetches a token anyway
  try {
    const token = await fetchToken();
    const reply = await socket.timeout(10000).emitWithAck("auth:refresh", { token });
    if (reply && reply.event === "auth:refreshed") return true;
    console.warn("auth:refresh refused", reply);
  } catch (error) {
    console.warn("could not refresh the access token", error);
  }
  // Try again shortly; if the token runs out meanwhile, the server closes the socket and
  // we reconnect with a new one (see the "disconnect" handler).
  refreshTimer = setTimeout(refreshToken, 15000);
  return false;
}

// -- rooms -----------------------------------------------------------------------------------

function emitSubscribe(room) {
  return new Promise((resolve) => {
    rooms.set(room, "pending");
    const payload = { room, ...(roomOptions.get(room) || {}) };
    socket.timeout(10000).emit("subscribe", payload, (err, reply) => {
      if (err) {
        console.warn(`subscribe ${room}: no answer`, err);
        resolve(false);
        return;
      }
      const ok = reply && reply.event === "subscribed";
      if (!ok) console.warn(`subscribe ${room} refused:`, reply && reply.data && reply.data.message);
      if (rooms.has(room)) rooms.set(room, ok ? "subscribed" : "refused");
      resolve(ok);
    });
  });
}

/** Join `room` now (if connected) and after every reconnect. Resolves true once joined.
 * `options` go into the subscribe payload (`{batch: true}` on `machines:all`). */
export function subscribe(room, options) {
  if (options) roomOptions.set(room, options);
  if (rooms.has(room) && rooms.get(room) !== "refused") return Promise.resolve(true);
  rooms.set(room, "pending");
  return socket && socket.connected ? emitSubscribe(room) : Promise.resolve(false);
}

/** Leave `room` and forget it. */
export function unsubscribe(room) {
  rooms.delete(room);
  roomOptions.delete(room);
  if (socket && socket.connected) socket.emit("unsubscribe", { room });
}

/** Listen to a server event (`machine:status`, `notification`, ...). */
export function on(event, handler) {
  listeners.push([event, handler]);
  if (socket) socket.on(event, handler);
}

/** `callback(why)` runs after every (re)connect, once the rooms are subscribed again
 * (`why` is `{reason: "connect", recovered}`), and when the server says events may have been
 * lost on the open connection (`resync`, e.g. `{reason: "redis-reconnected"}`). */
export function onResync(callback) {
  resyncCallbacks.add(callback);
}

// -- lifecycle -------------------------------------------------------------------------------

async function runResync(why) {
  for (const callback of resyncCallbacks) {
    try {
      await callback(why);
    } catch (error) {
      console.warn("resync failed", error);
    }
  }
  document.dispatchEvent(new CustomEvent("realtime:synced", { detail: why }));
}

async function afterConnect() {
  retry = 0;
  setState("live");
  await Promise.all([...rooms.keys()].map(emitSubscribe));
  await runResync({ reason: "connect", recovered: Boolean(socket && socket.recovered) });
}

function reconnectLater() {
  clearTimeout(retryTimer);
  const delay = RETRY_DELAYS_MS[Math.min(retry, RETRY_DELAYS_MS.length - 1)];
  retry += 1;
  retryTimer = setTimeout(() => socket && !socket.connected && socket.connect(), delay);
}

function connect() {
  if (!window.io || !config.tokenUrl) return;
  socket = window.io({
    path: "/socket.io/",
    auth: (cb) => {
      fetchToken().then((token) => cb({ token }), () => cb({}));
    },
    reconnectionDelay: 1000,
    reconnectionDelayMax: 10000,
  });
  for (const [event, handler] of listeners) socket.on(event, handler);

  socket.on("connect", afterConnect);
  socket.on("disconnect", (reason) => {
    for (const room of rooms.keys()) rooms.set(room, "pending");
    setState("reconnecting");
    // The Manager reconnects by itself after transport failures, but not when the server
    // closed the socket (e.g. the access token expired): then it is up to us.
    if (reason === "io server disconnect") reconnectLater();
  });
  socket.on("connect_error", (error) => {
    setState(navigator.onLine === false ? "offline" : "reconnecting");
    console.warn("realtime connect error:", error.message);
    // A refusal by the server (bad token) is not retried by the client library.
    if (!socket.active) reconnectLater();
  });
  socket.on("auth:expired", () => setState("reconnecting"));
  // The server withdrew a room we may no longer see (our membership was removed or our
  // role lowered): keep it as refused, and refetch, since REST now shows less too.
  socket.on("unsubscribed", (answer) => {
    const room = answer && answer.room;
    if (room && rooms.has(room)) rooms.set(room, "refused");
    runResync({ reason: "access-revoked" });
  });
  // The server lost events meant for us (e.g. Redis restarted) but the socket stayed up:
  // refetch every page's state over REST.
  socket.on("resync", (why) => runResync(why || { reason: "server" }));
  window.addEventListener("offline", () => setState("offline"));
  // Back online: a socket that survived the outage is live again; otherwise the Manager's
  // next attempt (or ours) connects and says so.
  window.addEventListener("online", () => setState(socket.connected ? "live" : "reconnecting"));
}

// Connect once the page's modules (imported in the same tick) have registered their rooms.
setState("connecting");
queueMicrotask(connect);

/** For debugging and the browser tests: the live socket and the room registry. */
window.vendhubRealtime = {
  get socket() { return socket; },
  get rooms() { return Object.fromEntries(rooms); },
  refreshToken,
};
