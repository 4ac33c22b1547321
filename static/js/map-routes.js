// The live map's "Routes" layer: today's routes of the viewer's organizations (a manager's:
// every operator's; an operator's: their own) as ordered lines, one colour per operator, with
// numbered stop markers: done and skipped stops greyed, the stop under way highlighted.
//
// Off by default and fetched only when switched on, so the fleet's markers (20,000 of them)
// load as fast as before; while on, `route:updated` on the `org:{id}` rooms the map already
// joined redraws that one route, and a reconnect refetches the day.

import { apiAll, config, gettext, h } from "./core.js";
import { PALETTE } from "./chart.js";
import * as realtime from "./realtime.js";

const L = window.L;
const FINISHED = new Set(["done", "skipped"]);

/** Today in the pages' time zone (YYYY-MM-DD), the date routes are planned for. */
function today() {
  return new Date().toLocaleDateString("en-CA", { timeZone: config.timeZone });
}

/** The stop to highlight: the one the operator is at, else the next one of a started route. */
function currentStop(route) {
  const atMachine = route.visits.find((visit) => visit.status === "checked_in");
  if (atMachine) return atMachine;
  if (route.status !== "in_progress") return null;
  return route.visits.find((visit) => !FINISHED.has(visit.status)) || null;
}

function stopIcon(visit, colour, current) {
  // An element, not an HTML string: its colour is set through the CSSOM, which the
  // Content-Security-Policy allows (an inline style attribute it refuses).
  const el = h("div", {
    class: `route-stop-icon stop-${visit.status}${current ? " stop-current" : ""}`,
    dataset: { visitId: visit.id, status: visit.status, sequence: visit.sequence },
    text: String(visit.sequence),
  });
  el.style.setProperty("--route-colour", colour);
  return L.divIcon({ className: "route-stop-marker", html: el, iconSize: [22, 22], iconAnchor: [11, 11] });
}

export class RouteLayer {
  constructor(map, mapEl) {
    this.map = map;
    this.mapEl = mapEl;
    this.group = L.layerGroup();
    this.drawn = new Map(); // route id -> L.LayerGroup
    this.colours = new Map(); // operator id -> colour, kept while the page lives
    this.day = today();
    this.enabled = false;
    this.generation = 0;
    this.addToggle();
    realtime.on("route:updated", (route) => {
      if (this.enabled && route && route.date === this.day) this.draw(route);
    });
    realtime.onResync(() => (this.enabled ? this.load() : undefined));
  }

  addToggle() {
    const layer = this;
    const Toggle = L.Control.extend({
      options: { position: "topright" },
      onAdd() {
        const input = h("input", { type: "checkbox", id: "map-routes-toggle" });
        input.addEventListener("change", () => layer.setEnabled(input.checked));
        const el = h("div", { class: "leaflet-control map-routes-toggle" },
          h("label", { for: "map-routes-toggle" }, input, gettext("Routes")));
        L.DomEvent.disableClickPropagation(el);
        return el;
      },
    });
    new Toggle().addTo(this.map);
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    if (!enabled) {
      this.generation += 1;
      this.group.remove();
      this.group.clearLayers();
      this.drawn.clear();
      this.mapEl.dataset.routes = "off";
      return;
    }
    this.group.addTo(this.map);
    this.load().catch((error) => console.warn("routes:", error));
  }

  async load() {
    const mine = ++this.generation;
    this.day = today();
    const routes = await apiAll(`/api/v1/routes/?date=${this.day}&page_size=500`);
    if (mine !== this.generation || !this.enabled) return;
    this.group.clearLayers();
    this.drawn.clear();
    for (const route of routes) this.draw(route);
    this.mapEl.dataset.routes = String(this.drawn.size);
  }

  colourOf(operatorId) {
    if (!this.colours.has(operatorId)) this.colours.set(operatorId, PALETTE[this.colours.size % PALETTE.length]);
    return this.colours.get(operatorId);
  }

  draw(route) {
    this.drawn.get(route.id)?.remove();
    const colour = this.colourOf(route.operatorId);
    const located = route.visits.filter((visit) => visit.lat != null && visit.lng != null);
    const current = currentStop(route);
    const layers = L.layerGroup();
    if (located.length > 1) {
      L.polyline(located.map((visit) => [visit.lat, visit.lng]), {
        color: colour, weight: 4, opacity: 0.8, className: `route-line route-${route.id}`,
      }).bindTooltip(route.operatorName, { sticky: true }).addTo(layers);
    }
    for (const visit of located) {
      L.marker([visit.lat, visit.lng], {
        icon: stopIcon(visit, colour, current && current.id === visit.id),
        title: `${visit.sequence}. ${visit.machineName} (${route.operatorName})`,
        zIndexOffset: 1000, // above the fleet's pins
      }).addTo(layers);
    }
    layers.addTo(this.group);
    this.drawn.set(route.id, layers);
    this.mapEl.dataset.routes = String(this.drawn.size);
    this.mapEl.dataset.routesVersion = `${route.id}:${route.version}`;
  }
}
