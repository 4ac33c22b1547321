// The map's side list of machines, windowed: a fleet of 20,000 would be 20,000 rows (~100,000
// elements) to build, style and lay out before the page responds, for the few dozen that fit
// in the list's scroll box. Up to ALL_ROWS_MAX machines every row is in the DOM (the browser's
// find-in-page sees them all); above, only the rows in view and OVERSCAN on each side are,
// and two spacers stand in for the rest so that the scrollbar is the whole fleet's. (Not the
// list's padding: padding is not held by the list's max-height, the box would grow to the
// whole fleet's height and every row would be "in view".)
// Rows are built on demand and kept on their entry (`entry.item`) until the machine changes.

export const ALL_ROWS_MAX = 500;
const OVERSCAN = 30;
const GUESSED_ROW_PX = 40; // until a row is measured

export class MachineList {
  /** `buildRow(entry)` makes a row element for one machine entry ({machine, item, …}). */
  constructor(listEl, buildRow) {
    this.el = listEl;
    this.buildRow = buildRow;
    this.entries = [];
    this.rowHeight = 0;
    this.frame = 0;
    this.before = spacer();
    this.after = spacer();
    listEl.addEventListener("scroll", () => this.schedule(), { passive: true });
    // The box's height decides how many rows are in view (rotation, resize).
    new ResizeObserver(() => this.schedule()).observe(listEl);
  }

  get windowed() {
    return this.entries.length > ALL_ROWS_MAX;
  }

  /** The machines to list, in order; rows already built are kept. */
  setEntries(entries) {
    this.entries = entries;
    this.render();
  }

  /** The entry's machine changed: its row is rebuilt now if it is shown, else when it is. */
  invalidate(entry) {
    const old = entry.item;
    entry.item = null;
    if (old && old.isConnected) {
      const fresh = this.row(entry, old.getAttribute("aria-posinset"));
      old.replaceWith(fresh);
    }
  }

  schedule() {
    if (this.windowed && !this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  row(entry, position) {
    entry.item = entry.item || this.buildRow(entry);
    if (this.windowed) {
      // A screen reader announces "row k of n" although most rows are not in the DOM.
      entry.item.setAttribute("aria-setsize", String(this.entries.length));
      if (position) entry.item.setAttribute("aria-posinset", String(position));
    } else {
      entry.item.removeAttribute("aria-setsize");
      entry.item.removeAttribute("aria-posinset");
    }
    return entry.item;
  }

  render() {
    const count = this.entries.length;
    let start = 0;
    let end = count;
    const rowHeight = this.rowHeight || GUESSED_ROW_PX;
    if (this.windowed) {
      const viewHeight = this.el.clientHeight || window.innerHeight;
      const first = Math.floor(this.el.scrollTop / rowHeight);
      start = Math.max(0, Math.min(first, count) - OVERSCAN);
      end = Math.min(count, first + Math.ceil(viewHeight / rowHeight) + OVERSCAN);
    }
    const rows = [];
    for (let index = start; index < end; index += 1) rows.push(this.row(this.entries[index], index + 1));
    if (this.windowed) {
      this.before.style.height = `${start * rowHeight}px`;
      this.after.style.height = `${(count - end) * rowHeight}px`;
      this.place([this.before, ...rows, this.after]);
    } else {
      this.place(rows);
    }
    if (this.windowed && !this.rowHeight && rows.length > 1) {
      // Rows are one line each (names are ellipsised): their mean height is every row's.
      const top = rows[0].getBoundingClientRect().top;
      const bottom = rows[rows.length - 1].getBoundingClientRect().bottom;
      this.rowHeight = (bottom - top) / rows.length || GUESSED_ROW_PX;
      this.render();
    }
  }

  // Make the list's children exactly `rows` without moving a row that stays: a row taken out
  // and put back loses keyboard focus, and scrolling with the keyboard must not.
  place(rows) {
    const wanted = new Set(rows);
    for (const child of [...this.el.children]) if (!wanted.has(child)) child.remove();
    let cursor = this.el.firstElementChild;
    for (const row of rows) {
      if (row === cursor) cursor = cursor.nextElementSibling;
      else this.el.insertBefore(row, cursor);
    }
  }
}

function spacer() {
  const el = document.createElement("li");
  el.className = "machine-list-spacer";
  el.setAttribute("aria-hidden", "true");
  return el;
}
