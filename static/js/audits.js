// A machine's DEX/EVA-DTS audits on its monitor page: each audit's period (from the audit
// before it to this one), the sales the counters say were made in it, and how that compares
// with the vends the machine posted (GET /api/v1/machines/{id}/audits/). Managers upload a
// file read at the machine (POST to the same URL, multipart: sales.audits.import_audit).

import { ApiError, api, csrfToken, fmt, formatDateTime, gettext, goToLogin, h } from "./core.js";
import { formatMoney } from "./revenue.js";

const FLAGS = {
  first_audit: gettext("First audit"),
  board_replaced: gettext("Board replaced"),
  counter_reset: gettext("Counter reset"),
};

function signed(value) {
  return value > 0 ? `+${value}` : String(value);
}

/** "Matches the vends", or the audit minus the vends: what the API never saw (or missed). */
export function reconciliationText(reconciliation) {
  if (!reconciliation || !reconciliation.comparable) return "—";
  if (reconciliation.matches) return gettext("Matches the vends");
  const vends = reconciliation.vendsDifference;
  const value = reconciliation.valueDifference;
  return fmt(gettext("Audit minus vends: %(vends)s vends, %(value)s"), {
    vends: vends === null || vends === undefined ? "—" : signed(vends),
    value: value === null || value === undefined ? "—" : (value > 0 ? "+" : "") + formatMoney(value),
  });
}

function auditRow(audit) {
  const totals = audit.totals || {};
  const period = audit.periodFrom
    ? `${formatDateTime(audit.periodFrom)} → ${formatDateTime(audit.periodTo)}`
    : formatDateTime(audit.periodTo);
  const reconciliation = audit.reconciliation || {};
  return h(
    "tr",
    { class: "audit-row", dataset: { auditId: audit.id, matches: String(Boolean(reconciliation.matches)) } },
    h("td", {}, h("div", { text: period }),
      ...(audit.flags || []).map((flag) => h("span", { class: "tag tag-kind", dataset: { flag }, text: FLAGS[flag] || flag }))),
    h("td", { class: "audit-sales" }, audit.periodFrom && totals.paidVends !== undefined && totals.paidVends !== null
      ? fmt(gettext("%(vends)s vends, %(value)s"), { vends: totals.paidVends, value: formatMoney(totals.paidValue) })
      : "—"),
    h("td", { class: `audit-reconciliation${reconciliation.comparable && !reconciliation.matches ? " flag-low" : ""}`, text: reconciliationText(reconciliation) }),
  );
}

/** Upload a file as a manager; resolves to the stored audit, throws ApiError with the answer. */
async function upload(machineId, file) {
  const body = new FormData();
  body.append("file", file);
  const response = await fetch(`/api/v1/machines/${machineId}/audits/`, {
    method: "POST", body, credentials: "same-origin", cache: "no-store",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
  });
  if (response.status === 401) {
    goToLogin();
    throw new ApiError(401, "not signed in");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && (data.detail || (data.file && data.file.join(" ")));
    throw new ApiError(response.status, detail || response.statusText);
  }
  return { audit: data, created: response.status === 201 };
}

/** Fill the audits card of the monitor (`#audits-card`) and wire its upload form. */
export function initAudits(card, machineId) {
  const rows = card.querySelector("#audits");
  const empty = card.querySelector("#audits-empty");
  const form = card.querySelector("#audit-upload");
  const status = card.querySelector("#audit-upload-status");

  async function load() {
    const page = await api(`/api/v1/machines/${machineId}/audits/?page_size=20`);
    rows.replaceChildren(...page.results.map(auditRow));
    empty.hidden = page.results.length > 0;
    card.dataset.loaded = "true";
  }

  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = form.querySelector("input[type=file]").files[0];
      if (!file) {
        status.textContent = gettext("Choose a DEX/EVA-DTS audit file to upload.");
        return;
      }
      status.textContent = gettext("Uploading…");
      status.dataset.state = "busy";
      try {
        const { created } = await upload(machineId, file);
        status.textContent = created ? gettext("The audit was imported.") : gettext("This file was imported before: nothing changed.");
        status.dataset.state = "done";
        form.reset();
        await load();
      } catch (error) {
        status.textContent = error.detail || String(error);
        status.dataset.state = "error";
      }
    });
  }
  return { load };
}
