// A machine's revenue today and its last sale, as the live map's popup and the fleet list
// show them. They come with the machine over REST (`revenueToday`, `lastSaleAt`), then live
// from the `machines:all` room the pages already watch: `machines:revenue` batches (one per
// tick, for pages that subscribed with batches) or single `machine:revenue` events, each a
// machine's totals of its organization's day so far. No room per machine is joined.

import { ago, config, formatDateTime, formatTime, gettext, isToday } from "./core.js";

// Amounts are integers in the smallest unit of the organizations' currency in use: UZS,
// whose sum has no fractional unit in circulation (README "Sales": money).
export const CURRENCY = "UZS";
const money = new Intl.NumberFormat(config.lang, {
  style: "currency", currency: CURRENCY, minimumFractionDigits: 0, maximumFractionDigits: 0,
});

/** "UZS 45,000" in the page's language; "—" when unknown. */
export function formatMoney(amount) {
  return amount === null || amount === undefined ? "—" : money.format(amount);
}

/** "14:05 · 3 min ago" (today, in the pages' time zone), a date for older sales, "never". */
export function lastSaleText(iso) {
  if (!iso) return gettext("never");
  return isToday(iso) ? `${formatTime(iso)} · ${ago(iso)}` : formatDateTime(iso);
}

const time = (iso) => (iso ? Date.parse(iso) : -Infinity);

/** The machine's revenue fields from REST, unless a live update already showed a later
 * sale (a fetch answered before the update and received after it). */
export function takeRestSales(machine, fetched) {
  if (time(fetched.lastSaleAt) < time(machine.lastSaleAt)) return;
  machine.revenueToday = fetched.revenueToday;
  machine.lastSaleAt = fetched.lastSaleAt;
}

/** Apply a `machine:revenue` update to `machine`; false when it is older than what the
 * machine shows (two requests of one machine may publish in either order: the vends of
 * the day only grow, and a new day starts over). */
export function applyRevenue(machine, update) {
  if (!update || typeof update.revenueToday !== "number") return false;
  if (machine.revenueDate && update.date < machine.revenueDate) return false;
  if (machine.revenueDate === update.date && update.vendsToday < machine.vendsToday) return false;
  machine.revenueToday = update.revenueToday;
  machine.vendsToday = update.vendsToday;
  machine.revenueDate = update.date;
  if (time(update.lastSaleAt) > time(machine.lastSaleAt)) machine.lastSaleAt = update.lastSaleAt;
  return true;
}
