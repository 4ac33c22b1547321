// Run-out forecasts of one machine on its monitor: "Coffee empty at ~14:30 (14:10–15:05)"
// per bunker and per slot, in the organization's time zone (the card's data-time-zone).
// Initial state from GET /api/v1/machines/{id}/forecasts/, then live from `machine:forecast`
// in the room `machine:{id}` (the monitor subscribes to it); refetched after a reconnect.

import { api, config, fmt, gettext, h } from "./core.js";
import * as realtime from "./realtime.js";

function formatter(timeZone, options) {
  return new Intl.DateTimeFormat(config.lang, { ...options, timeZone: timeZone || config.timeZone });
}

/** "14:30" today, "Tue 14:30" within a week, "12 Mar 14:30" beyond, in `timeZone`. */
export function runOutTime(iso, timeZone, now = new Date()) {
  const at = new Date(iso);
  const day = formatter(timeZone, { year: "numeric", month: "2-digit", day: "2-digit" });
  const time = formatter(timeZone, { hour: "2-digit", minute: "2-digit" }).format(at);
  if (day.format(at) === day.format(now)) return time;
  if (at - now < 6 * 86400_000) return `${formatter(timeZone, { weekday: "short" }).format(at)} ${time}`;
  return `${formatter(timeZone, { day: "numeric", month: "short" }).format(at)} ${time}`;
}

function label(forecast) {
  return forecast.kind === "slot"
    ? fmt(gettext("%(name)s (slot %(code)s)"), { name: forecast.name || "?", code: forecast.slotCode })
    : forecast.name;
}

/** The sentence of one forecast, and how sure it is (the interval). */
export function forecastText(forecast, timeZone, now = new Date()) {
  const name = label(forecast);
  if (forecast.runsOutAt === null) {
    return { text: fmt(forecast.method === "none" ? gettext("%(name)s: not enough history yet")
      : gettext("%(name)s: does not run out within 30 days"), { name }), range: "" };
  }
  if (forecast.level <= 0 || new Date(forecast.runsOutAt) <= now) {
    return { text: fmt(gettext("%(name)s is empty"), { name }), range: "" };
  }
  const text = fmt(gettext("%(name)s empty at ~%(time)s"), { name, time: runOutTime(forecast.runsOutAt, timeZone, now) });
  const from = forecast.earliestAt ? runOutTime(forecast.earliestAt, timeZone, now) : "";
  const range = forecast.latestAt
    ? `${from}–${runOutTime(forecast.latestAt, timeZone, now)}`
    : fmt(gettext("%(time)s or later"), { time: from });
  return { text, range };
}

function row(forecast, timeZone) {
  const { text, range } = forecastText(forecast, timeZone);
  const method = forecast.method === "profile" ? gettext("from its hour-of-day profile")
    : forecast.method === "recent" ? gettext("from its recent rate") : "";
  return h(
    "li",
    { class: "forecast", dataset: { kind: forecast.kind, runsOutAt: forecast.runsOutAt || "", key: forecast.bunkerId || forecast.slotCode } },
    h("span", { class: "forecast-text", text }),
    range ? h("span", { class: "forecast-range muted", text: ` (${range})` }) : null,
    method ? h("span", { class: "forecast-method muted", text: ` · ${method}` }) : null,
  );
}

/** Show `machineId`'s forecasts in `card` (its `ul.forecasts` and `.empty`). */
export function initForecasts(card, machineId) {
  const list = card.querySelector("ul");
  const empty = card.querySelector(".empty");
  const timeZone = card.dataset.timeZone;
  let shown = null; // computedAt of what is shown: a late REST answer does not undo an event

  function render(document) {
    if (shown && document.computedAt && document.computedAt < shown) return;
    shown = document.computedAt;
    const forecasts = [...document.forecasts].sort((a, b) =>
      (a.runsOutAt || "9999").localeCompare(b.runsOutAt || "9999") || label(a).localeCompare(label(b)));
    list.replaceChildren(...forecasts.map((forecast) => row(forecast, timeZone)));
    empty.hidden = forecasts.length > 0;
    card.dataset.loaded = "true";
  }

  const load = async () => render(await api(`/api/v1/machines/${machineId}/forecasts/`));
  realtime.on("machine:forecast", (document) => document && document.machineId === machineId && render(document));
  realtime.onResync(() => load().catch(() => {}));
  load().catch((error) => console.warn("forecasts:", error));
  // "empty at" turns into "is empty" as time passes, without an event.
  setInterval(() => load().catch(() => {}), 5 * 60_000);
  return { load };
}
