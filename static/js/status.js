// A status a person set (maintenance) holds until a person ends it: the monitor and the map
// say who set it and since when, from the machine's REST detail (statusSetByName,
// statusSetAt), since `machine:status` keeps the reference design's three keys.

import { fmt, formatDateTime, formatTime, gettext, isToday } from "./core.js";

function since(iso) {
  return isToday(iso) ? formatTime(iso) : formatDateTime(iso);
}

/** "Maintenance — set by demo-manager since 14:05", or "" while readings decide the status. */
export function heldStatusText(machine, statusLabels = {}) {
  if (!machine || !machine.statusSetAt) return "";
  const label = statusLabels[machine.status] || machine.status;
  if (!machine.statusSetByName) {
    return fmt(gettext("%(status)s — since %(since)s"), { status: label, since: since(machine.statusSetAt) });
  }
  return fmt(gettext("%(status)s — set by %(user)s since %(since)s"), {
    status: label, user: machine.statusSetByName, since: since(machine.statusSetAt),
  });
}
