// How the live map draws its machines, behind one small interface (`create`, `restyle`), so
// that map.js does not care which is in use:
//
// - `DomPins`: one Leaflet divIcon marker per machine, an HTML `.pin` element with the
//   machine's id, status and low-stock badge as attributes and classes: focusable, titled,
//   found by screen readers and by the browser tests. Each Leaflet marker registers its own
//   map listeners, and Leaflet checks every new listener against the ones already there, so
//   adding n markers costs O(n²) (20,000 pins: ~6 s of listener checks alone, then the
//   layout and paint of 20,000 elements). Fine for a fleet of a few hundred.
// - `CanvasPins`: one `L.circleMarker` per machine on a single shared canvas renderer: no
//   element and no map listener per machine, drawn in one pass; a status change is a
//   `setStyle`, which redraws only that marker's corner of the canvas in the next frame.
//   Large fleets get this; the side list (map-list.js) is then the machines' DOM hook.

const L = window.L;

/** Fleets up to this many located machines get DOM pins, larger ones the canvas. */
export const DOM_PIN_LIMIT = 1000;

/** "dom" or "canvas" for a fleet of `count` machines; `forced` (the page's `?markers=`) wins. */
export function markerKind(count, forced) {
  if (forced === "dom" || forced === "canvas") return forced;
  return count > DOM_PIN_LIMIT ? "canvas" : "dom";
}

function pinIcon(machine, low) {
  return L.divIcon({
    className: "machine-marker",
    html: `<span class="pin status-${machine.status}${low ? " pin-low" : ""}" data-machine-id="${machine.id}" data-status="${machine.status}"></span>`,
    iconSize: [24, 24],
    iconAnchor: [12, 12],
    popupAnchor: [0, -12],
  });
}

export class DomPins {
  constructor(map) {
    this.map = map;
    this.kind = "dom";
  }

  create(machine, low) {
    return L.marker([machine.lat, machine.lng], {
      icon: pinIcon(machine, low), title: machine.name, alt: machine.name, riseOnHover: true,
    }).addTo(this.map);
  }

  restyle(marker, machine, low) {
    marker.setIcon(pinIcon(machine, low));
    marker.options.title = machine.name;
  }
}

// The status colours are app.css's custom properties (`--online`, …): one palette for the
// pins, the list dots and the legend, whichever way the markers are drawn.
function statusColours() {
  const style = getComputedStyle(document.documentElement);
  const colours = {};
  for (const status of ["online", "offline", "maintenance", "error"]) {
    colours[status] = style.getPropertyValue(`--${status}`).trim();
  }
  return colours;
}

const LOW_RING = "#dc2626"; // the red of the DOM pin's low-stock badge
const UNKNOWN = "#94a3b8";

export class CanvasPins {
  constructor(map) {
    this.map = map;
    this.kind = "canvas";
    this.colours = statusColours();
    // A wider hit area than the drawn circle: markers are small and fingers are not.
    this.renderer = L.canvas({ padding: 0.5, tolerance: 4 });
  }

  style(machine, low) {
    return {
      renderer: this.renderer,
      // An error stands out by size as the DOM pin does by its halo.
      radius: machine.status === "error" ? 9 : 7,
      fillColor: this.colours[machine.status] || UNKNOWN,
      fillOpacity: 1,
      // A low-stock machine: a thick red ring instead of the white one.
      color: low ? LOW_RING : "#ffffff",
      weight: low ? 4 : 2,
      opacity: 1,
    };
  }

  create(machine, low) {
    return L.circleMarker([machine.lat, machine.lng], this.style(machine, low)).addTo(this.map);
  }

  restyle(marker, machine, low) {
    const style = this.style(machine, low);
    marker.setRadius(style.radius);
    marker.setStyle(style);
  }
}

export function markerLayer(map, kind) {
  return kind === "canvas" ? new CanvasPins(map) : new DomPins(map);
}
