// Pump local dashboard: connect an Anthropic organization, follow its backfill, look at the spend.
// Plain browser JavaScript, no build step and no third-party code. It talks only to the public API
// (/integrations/anthropic…, /costs, /costs/exports), so it works against a deployed stack given its URL and a token.
"use strict";

(() => {
  const POLL_BUSY_MS = 1000; // while a backfill runs or right after an action
  const POLL_IDLE_MS = 30000;
  const BUSY_AFTER_ACTION_MS = 15000;
  const SPEND_RELOAD_MS = 3000; // while a backfill runs (the local stack shares one process with it)
  const MAX_SERIES = 8; // the chart stacks at most this many series; the rest become "Other"
  const STORE_BASE = "pump.apiBase"; // localStorage: not a secret
  const STORE_TOKEN = "pump.apiToken"; // sessionStorage: gone when the tab closes
  const TOKEN_SAVED_HINT = "saved for this tab (enter a new one to replace)";

  const STATUS_LABELS = {
    backfilling: "Backfilling",
    active: "Active",
    error: "Needs attention",
    revoked: "Key revoked",
    disconnected: "Disconnected",
  };
  const DIMENSIONS = {
    model: "Model",
    workspace_id: "Workspace",
    cost_type: "Cost type",
    token_type: "Token type",
  };
  const COST_TYPES = { tokens: "Tokens", web_search: "Web search", code_execution: "Code execution" };
  const TOKEN_TYPES = {
    uncached_input_tokens: "Input",
    output_tokens: "Output",
    cache_read_input_tokens: "Cache read",
    "cache_creation.ephemeral_5m_input_tokens": "Cache write (5 min)",
    "cache_creation.ephemeral_1h_input_tokens": "Cache write (1 h)",
  };
  // Okabe–Ito, reordered so neighbours differ; "Other" is grey.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7A5195", "#B8860B"];
  const OTHER_COLOR = "#8A8F98";
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  const state = {
    connections: [],
    signature: null, // changes when a connection's status or progress does: then the spend is reloaded
    busyUntil: 0,
    pollTimer: null,
    spendLoading: false,
    spendPending: false,
    spendLoadedAt: 0,
    spendTimer: null,
    chartSeq: 0,
    tableSeq: 0,
  };

  // ---------------------------------------------------------------- settings and the API

  const settings = {
    base: readStorage(localStorage, STORE_BASE),
    token: readStorage(sessionStorage, STORE_TOKEN),
  };

  function readStorage(store, key) {
    try {
      return store.getItem(key) || "";
    } catch {
      return "";
    }
  }

  function writeStorage(store, key, value) {
    try {
      if (value) store.setItem(key, value);
      else store.removeItem(key);
    } catch {
      // storage disabled: the setting lasts until the page reloads
    }
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function apiUrl(path) {
    return settings.base ? settings.base.replace(/\/+$/, "") + path : path;
  }

  function authHeaders() {
    return settings.token ? { Authorization: `Bearer ${settings.token}` } : {};
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", ...authHeaders() };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(apiUrl(path), init);
    } catch {
      throw new ApiError(0, "network_error", "The API could not be reached. Is the server running?");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const error = (payload && payload.error) || {};
      throw new ApiError(
        response.status,
        error.code || `http_${response.status}`,
        error.message || `The API answered with HTTP ${response.status}.`,
      );
    }
    return payload;
  }

  // ---------------------------------------------------------------- exact decimals and formatting

  const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

  /** "12.345" → {value: 12345n, scale: 3}; exact, no floating point. */
  function parseDecimal(text) {
    const match = DECIMAL.exec(String(text));
    if (!match) return null;
    const [, sign, whole, fraction = ""] = match;
    const value = BigInt(whole + fraction);
    return { value: sign ? -value : value, scale: fraction.length };
  }

  /** Exact sum of decimal strings, as a decimal string (null when every input is null). */
  function sumDecimals(values) {
    const parsed = values.filter((v) => v !== null && v !== undefined).map(parseDecimal).filter(Boolean);
    if (!parsed.length) return null;
    const scale = Math.max(...parsed.map((p) => p.scale));
    let total = 0n;
    for (const p of parsed) total += p.value * 10n ** BigInt(scale - p.scale);
    const negative = total < 0n;
    const digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
    const whole = digits.slice(0, digits.length - scale);
    const fraction = scale ? digits.slice(-scale).replace(/0+$/, "") : "";
    return (negative ? "-" : "") + whole + (fraction ? `.${fraction}` : "");
  }

  function groupThousands(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  /** An exact decimal string as "$1,234.57" (half-up to the cent); the exact value stays in the title. */
  function formatUsd(exact) {
    const match = DECIMAL.exec(String(exact));
    if (!match) return String(exact);
    const [, sign, whole, fraction = ""] = match;
    let cents = BigInt(whole) * 100n + BigInt((fraction + "00").slice(0, 2));
    if ((fraction[2] || "0") >= "5") cents += 1n;
    if (cents === 0n && /[1-9]/.test(whole + fraction)) return sign ? "-<$0.01" : "<$0.01";
    const dollars = groupThousands((cents / 100n).toString());
    const rest = (cents % 100n).toString().padStart(2, "0");
    return `${sign && cents ? "-" : ""}$${dollars}.${rest}`;
  }

  function formatInt(n) {
    return groupThousands(String(Math.trunc(Number(n) || 0)));
  }

  /** Chart axis labels only (approximate by nature). */
  function formatAxisUsd(value) {
    if (value >= 1000) return `$${(value / 1000).toLocaleString("en-US", { maximumFractionDigits: 1 })}k`;
    return `$${value.toLocaleString("en-US", { maximumFractionDigits: value < 10 ? 2 : 0 })}`;
  }

  function formatDateTime(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return iso;
    const minutes = Math.round((Date.now() - when.getTime()) / 60000);
    let ago;
    if (minutes < 1) ago = "just now";
    else if (minutes < 60) ago = `${minutes} min ago`;
    else if (minutes < 48 * 60) ago = `${Math.round(minutes / 60)} h ago`;
    else ago = `${Math.round(minutes / 1440)} days ago`;
    return `${when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })} (${ago})`;
  }

  // ---------------------------------------------------------------- dates (UTC days, as the API counts them)

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  function addDays(day, days) {
    const date = new Date(`${day}T00:00:00Z`);
    date.setUTCDate(date.getUTCDate() + days);
    return isoDay(date);
  }

  function selectedRange() {
    const days = Number(document.querySelector('input[name="range"]:checked').value);
    const to = isoDay(new Date());
    return { days, from: addDays(to, -(days - 1)), to, bucket: days > 90 ? "month" : "date" };
  }

  function slotsFor(range) {
    const slots = [];
    if (range.bucket === "date") {
      for (let day = range.from; day <= range.to; day = addDays(day, 1)) slots.push(day);
    } else {
      let [year, month] = range.from.slice(0, 7).split("-").map(Number);
      const last = range.to.slice(0, 7);
      for (;;) {
        const key = `${year}-${String(month).padStart(2, "0")}`;
        slots.push(key);
        if (key >= last) break;
        month += 1;
        if (month > 12) [year, month] = [year + 1, 1];
      }
    }
    return slots;
  }

  function slotLabel(slot) {
    const month = MONTHS[Number(slot.slice(5, 7)) - 1];
    return slot.length === 7 ? `${month} ’${slot.slice(2, 4)}` : `${month} ${Number(slot.slice(8, 10))}`;
  }

  // ---------------------------------------------------------------- small DOM helpers

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.setAttribute("class", value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function money(exact) {
    if (exact === null || exact === undefined) {
      return el("span", {
        className: "unknown",
        text: "Cost unknown",
        title: "Anthropic's cost report has no price for this usage (priority tier).",
      });
    }
    return el("span", {
      className: "money",
      text: formatUsd(exact),
      title: `${exact} USD (exact)`,
      "data-exact": exact,
    });
  }

  function setStatus(node, message, kind = "") {
    node.textContent = message || "";
    node.className = `status ${kind}`.trim();
  }

  function dimensionLabel(dim, row) {
    const value = row[dim];
    switch (dim) {
      case "model":
        return value ?? "No model";
      case "workspace_id":
        return row.workspace_name || value || "Default workspace";
      case "api_key_id":
        return row.api_key_hint ? `${row.api_key_name} (${row.api_key_hint})` : row.api_key_name || value;
      case "cost_type":
        return COST_TYPES[value] || value || "—";
      case "token_type":
        return value === null || value === undefined ? "— (not per token)" : TOKEN_TYPES[value] || value;
      default:
        return value ?? "—";
    }
  }

  function unknownText(unknown) {
    if (!unknown) return "";
    const parts = [];
    if (unknown.tokens) parts.push(`${formatInt(unknown.tokens)} tokens`);
    if (unknown.web_search_requests) parts.push(`${formatInt(unknown.web_search_requests)} web searches`);
    return parts.join(", ");
  }

  /** Table cell: tokens (and web searches) Anthropic reports without a cost; empty when there are none. */
  function unknownCell(unknown) {
    const searches = unknown && unknown.web_search_requests;
    const text = !unknown
      ? ""
      : formatInt(unknown.tokens) + (searches ? ` + ${formatInt(searches)} web searches` : "");
    return el("td", { className: "num unknown-cell", text, title: unknown ? unknownText(unknown) : null });
  }

  // ---------------------------------------------------------------- integrations panel

  const cards = new Map(); // connection id → {root, fields}

  function statusLabel(status) {
    return STATUS_LABELS[status] || status;
  }

  function buildCard(connection) {
    const id = connection.id;
    const titleId = `conn-${id}-title`;
    const fields = {
      title: el("h3", { id: titleId }),
      badge: el("span", { className: "badge" }),
      org: el("dd"),
      key: el("code"),
      progress: el("progress", { max: 1, value: 0, "aria-label": "Backfill progress" }),
      progressText: el("span", { className: "progress-text" }),
      failed: el("span", { className: "failed-count" }),
      span: el("span", { className: "muted range" }),
      failedList: el("details", { className: "failed-chunks", hidden: true }),
      lastSync: el("dd"),
      lastError: el("dd", { className: "last-error" }),
      message: el("p", { className: "status", role: "status", "aria-live": "polite" }),
      sync: el("button", { type: "button", className: "secondary", text: "Sync now" }),
      retry: el("button", { type: "button", className: "secondary", text: "Retry failed months" }),
      disconnect: el("button", { type: "button", className: "danger", text: "Disconnect" }),
    };
    const root = el(
      "article",
      { className: "connection", "data-connection-id": id, "aria-labelledby": titleId },
      el("header", { className: "connection-head" }, fields.title, fields.badge),
      el(
        "dl",
        {},
        el("div", {}, el("dt", { text: "Organization" }), fields.org),
        el("div", {}, el("dt", { text: "Admin key" }), el("dd", {}, fields.key)),
        el(
          "div",
          { className: "wide" },
          el("dt", { text: "Backfill" }),
          el("dd", {}, fields.progress, " ", fields.progressText, " ", fields.failed, " ", fields.span),
        ),
        el("div", {}, el("dt", { text: "Last sync" }), fields.lastSync),
        el("div", {}, el("dt", { text: "Last error" }), fields.lastError),
      ),
      fields.failedList,
      el("div", { className: "actions" }, fields.sync, fields.retry, fields.disconnect),
      fields.message,
    );
    fields.sync.addEventListener("click", () => syncNow(id));
    fields.retry.addEventListener("click", () => retryFailed(id));
    fields.disconnect.addEventListener("click", () => disconnect(id));
    return { root, fields };
  }

  function updateCard(card, connection) {
    const f = card.fields;
    const backfill = connection.backfill || {};
    const total = backfill.chunks_total || 0;
    const done = backfill.chunks_done || 0;
    const failed = backfill.chunks_failed || 0;
    const status = connection.status;
    const organization = connection.organization || {};
    const running = status === "backfilling";
    const closed = status === "disconnected" || status === "revoked";

    card.root.dataset.status = status;
    f.title.textContent = organization.name || "Anthropic organization";
    f.badge.textContent = statusLabel(status);
    f.badge.className = `badge status-${status}`;
    f.badge.dataset.status = status;
    const orgId = el("span", { className: "muted", text: organization.id || "" });
    f.org.replaceChildren(organization.name || "—", " ", orgId);
    f.key.textContent = connection.key_hint || "—";

    if (total) {
      f.progress.max = total;
      f.progress.value = done;
      f.progressText.textContent = `${done}/${total} months`;
    } else {
      f.progress.removeAttribute("value"); // indeterminate while the plan is made
      f.progressText.textContent = running ? "planning…" : "0/0 months";
    }
    f.progress.setAttribute("aria-valuetext", f.progressText.textContent);
    f.failed.textContent = failed ? `· ${failed} failed` : "";
    f.span.textContent = backfill.from && backfill.to ? `· ${backfill.from} → ${backfill.to}` : "";
    renderFailedChunks(f.failedList, backfill.failed_chunks || []);

    f.lastSync.replaceChildren(
      connection.last_sync_at
        ? el("time", { datetime: connection.last_sync_at, text: formatDateTime(connection.last_sync_at) })
        : "Not yet",
    );
    const error = connection.last_error;
    f.lastError.textContent = error ? error.message || error.code : "None";
    f.lastError.classList.toggle("has-error", Boolean(error));

    const busy = card.root.getAttribute("aria-busy") === "true";
    f.sync.hidden = f.retry.hidden = f.disconnect.hidden = status === "disconnected";
    f.sync.disabled = busy || status !== "active"; // the API syncs active connections only
    f.retry.disabled = busy || running || closed || done >= total;
    f.retry.textContent = failed ? `Retry failed months (${failed})` : "Retry failed months";
    f.disconnect.disabled = busy;
  }

  function renderFailedChunks(details, chunks) {
    details.hidden = !chunks.length;
    if (!chunks.length) return details.replaceChildren();
    const wasOpen = details.open;
    details.replaceChildren(
      el("summary", { text: `${chunks.length} month${chunks.length === 1 ? "" : "s"} could not be fetched` }),
      el(
        "ul",
        {},
        ...chunks.map((chunk) =>
          el(
            "li",
            {},
            el("strong", { text: `${chunk.start} → ${addDays(chunk.end, -1)}: ` }),
            (chunk.error && (chunk.error.message || chunk.error.code)) || "unknown error",
          ),
        ),
      ),
    );
    details.open = wasOpen;
  }

  function renderConnections() {
    const container = $("connections");
    const seen = new Set();
    for (const connection of state.connections) {
      seen.add(connection.id);
      let card = cards.get(connection.id);
      if (!card) {
        card = buildCard(connection);
        cards.set(connection.id, card);
        container.append(card.root);
      }
      updateCard(card, connection);
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    $("connections-empty").hidden = state.connections.length > 0;
    $("spend-empty-text").textContent = emptyReason();
  }

  function upsertConnection(connection) {
    if (!connection || !connection.id) return;
    const index = state.connections.findIndex((c) => c.id === connection.id);
    if (index >= 0) state.connections[index] = connection;
    else state.connections.push(connection);
    renderConnections();
    noticeProgress();
  }

  async function refreshConnections() {
    try {
      const body = await api("GET", "/integrations/anthropic");
      state.connections = body.connections || [];
      renderConnections();
      const status = $("connections-status");
      if (status.classList.contains("error")) setStatus(status, ""); // the API is back: drop the load error
    } catch (error) {
      setStatus($("connections-status"), `Could not load the connections: ${error.message}`, "error");
    }
    noticeProgress();
  }

  /** Reload the spend whenever a connection's status or backfill progress moved. */
  /** While a backfill runs, new months show up at most every SPEND_RELOAD_MS; a status change shows at once. */
  function noticeProgress() {
    const statuses = state.connections.map((c) => `${c.id}:${c.status}:${c.last_sync_at}`).join("|");
    const progress = state.connections.map((c) => (c.backfill || {}).chunks_done).join("|");
    const signature = `${statuses}#${progress}`;
    if (signature === state.signature) return;
    const statusChanged = !state.signature || !state.signature.startsWith(`${statuses}#`);
    state.signature = signature;
    clearTimeout(state.spendTimer);
    const wait = statusChanged ? 0 : state.spendLoadedAt + SPEND_RELOAD_MS - Date.now();
    if (wait <= 0) loadSpend();
    else state.spendTimer = setTimeout(() => loadSpend(), wait);
  }

  function schedulePoll() {
    clearTimeout(state.pollTimer);
    const busy = Date.now() < state.busyUntil || state.connections.some((c) => c.status === "backfilling");
    state.pollTimer = setTimeout(poll, busy ? POLL_BUSY_MS : POLL_IDLE_MS);
  }

  async function poll() {
    if (!document.hidden) await refreshConnections();
    schedulePoll();
  }

  function pollSoon() {
    state.busyUntil = Date.now() + BUSY_AFTER_ACTION_MS;
    schedulePoll();
  }

  async function cardAction(id, run) {
    const card = cards.get(id);
    if (!card) return;
    card.root.setAttribute("aria-busy", "true");
    const before = state.connections.find((c) => c.id === id);
    if (before) updateCard(card, before);
    try {
      await run(card);
    } catch (error) {
      setStatus(card.fields.message, error.message, "error");
    } finally {
      card.root.removeAttribute("aria-busy");
      const current = state.connections.find((c) => c.id === id);
      if (current && cards.has(id)) updateCard(card, current);
      pollSoon();
    }
  }

  function connectionPath(id, suffix = "") {
    return `/integrations/anthropic/${encodeURIComponent(id)}${suffix}`;
  }

  function syncNow(id) {
    return cardAction(id, async (card) => {
      setStatus(card.fields.message, "Starting a sync…");
      const body = await api("POST", connectionPath(id, "/sync"));
      if (body && body.id) upsertConnection(body);
      setStatus(card.fields.message, "Sync started; new usage appears here when it finishes.", "ok");
    });
  }

  function retryFailed(id) {
    return cardAction(id, async (card) => {
      setStatus(card.fields.message, "Retrying the months that failed…");
      upsertConnection(await api("POST", connectionPath(id, "/backfill")));
      setStatus(card.fields.message, "Retry started.", "ok");
    });
  }

  function disconnect(id) {
    const connection = state.connections.find((c) => c.id === id);
    const name = (connection && connection.organization && connection.organization.name) || "this organization";
    const question = `Disconnect ${name}? Pump stops syncing it and deletes its stored Admin key.`;
    if (!window.confirm(question)) return Promise.resolve();
    return cardAction(id, async (card) => {
      setStatus(card.fields.message, "Disconnecting…");
      const body = await api("DELETE", connectionPath(id));
      setStatus(card.fields.message, "");
      setStatus($("connections-status"), `Disconnected ${name}.`, "ok");
      upsertConnection(body);
      loadSpend();
    });
  }

  async function onConnect(event) {
    event.preventDefault();
    const input = $("admin-key");
    const button = $("connect-button");
    const status = $("connect-status");
    const key = input.value.trim();
    input.value = ""; // the key is never kept on the page nor shown again
    if (!key) {
      setStatus(status, "Paste an Admin key first.", "error");
      input.focus();
      return;
    }
    button.disabled = true;
    setStatus(status, "Checking the key with Anthropic…");
    try {
      const connection = await api("POST", "/integrations/anthropic", { admin_key: key });
      upsertConnection(connection);
      setStatus(status, `Connected ${connection.organization.name}; its backfill progress is shown below.`, "ok");
      pollSoon();
    } catch (error) {
      setStatus(status, error.message, "error");
      input.focus();
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- spend view

  function selectedSeries() {
    return document.querySelector('input[name="series"]:checked').value;
  }

  function selectedDimensions() {
    return [...document.querySelectorAll("#breakdown-picker input:checked")].map((input) => input.value);
  }

  const COST_PAGE_ROWS = 10000;

  function costsPath(range, groupBy, page) {
    const query = new URLSearchParams({ from: range.from, to: range.to, limit: String(COST_PAGE_ROWS) });
    if (groupBy.length) query.set("group_by", groupBy.join(","));
    if (page) query.set("page", page);
    return `/costs?${query}`;
  }

  /** The whole report of a range: every page's rows, in order, under the first page's fields (total included). */
  async function loadCostReport(range, groupBy) {
    const report = await api("GET", costsPath(range, groupBy));
    let page = report;
    while (page.has_more && page.next_page) {
      page = await api("GET", costsPath(range, groupBy, page.next_page));
      report.rows = report.rows.concat(page.rows || []);
    }
    report.has_more = false;
    report.next_page = null;
    return report;
  }

  /** Reload what the spend view shows; calls made while one runs are folded into one more run after it. */
  async function loadSpend({ chart = true, table = true } = {}) {
    if (state.spendLoading) {
      state.spendPending = true;
      return;
    }
    state.spendLoading = true;
    state.spendLoadedAt = Date.now();
    $("spend").setAttribute("aria-busy", "true");
    try {
      await Promise.all([chart ? loadChart() : null, table ? loadTable() : null]);
    } finally {
      state.spendLoading = false;
      $("spend").removeAttribute("aria-busy");
      if (state.spendPending) {
        state.spendPending = false;
        loadSpend();
      }
    }
  }

  function showSpendError(error) {
    const node = $("spend-error");
    node.hidden = !error;
    node.textContent = error ? `Could not load the spend: ${error.message}` : "";
  }

  async function loadChart() {
    const seq = ++state.chartSeq;
    const range = selectedRange();
    const series = selectedSeries();
    renderRange(range);
    try {
      const report = await loadCostReport(range, [range.bucket, series]);
      if (seq !== state.chartSeq) return;
      showSpendError(null);
      renderTotal(report);
      renderChart(report, range, series);
    } catch (error) {
      if (seq === state.chartSeq) showSpendError(error);
    }
  }

  async function loadTable() {
    const seq = ++state.tableSeq;
    const range = selectedRange();
    const dims = selectedDimensions();
    try {
      const report = await loadCostReport(range, dims.length ? dims : ["cost_type"]);
      if (seq !== state.tableSeq) return;
      renderTable(report, dims);
    } catch (error) {
      if (seq === state.tableSeq) showSpendError(error);
    }
  }

  function renderRange(range) {
    const label = $("range-label");
    label.textContent = `${range.from} → ${range.to} (UTC days)`;
    label.dataset.from = range.from;
    label.dataset.to = range.to;
  }

  function renderTotal(report) {
    const total = report.total || {};
    const amount = $("total-amount");
    amount.dataset.from = report.from;
    amount.dataset.to = report.to;
    if (total.cost_usd === null || total.cost_usd === undefined) {
      amount.textContent = "Cost unknown";
      amount.dataset.exact = "";
      amount.title = "Anthropic reports this usage without a cost (priority tier).";
      $("total-exact").textContent = "";
    } else {
      amount.textContent = formatUsd(total.cost_usd);
      amount.dataset.exact = total.cost_usd;
      amount.title = `${total.cost_usd} ${report.currency || "USD"} (exact)`;
      $("total-exact").textContent = `Exact: ${total.cost_usd} ${report.currency || "USD"}`;
    }
    $("total-tokens").textContent = `${formatInt(total.tokens)} tokens · ${report.from} → ${report.to}`;

    const unknown = unknownText(total.cost_unknown);
    $("cost-unknown-notice").hidden = !unknown;
    $("cost-unknown-text").textContent = unknown
      ? `${unknown} ran on the priority tier, which Anthropic's cost report does not price. ` +
        "They are listed below but not counted in the total (never as $0)."
      : "";

    const empty = !(report.rows || []).length && !total.tokens && !unknown;
    $("spend-empty").hidden = !empty;
    $("spend-data").hidden = empty;
    $("total-card").hidden = empty;
    $("spend-empty-text").textContent = emptyReason();
  }

  function emptyReason() {
    const live = state.connections.filter((c) => c.status !== "disconnected");
    const running = live.find((c) => c.status === "backfilling");
    if (!live.length) return "Connect an Anthropic organization above to see its spend here.";
    if (running) {
      const b = running.backfill || {};
      const progress = `${b.chunks_done || 0}/${b.chunks_total || "?"} months`;
      return `The backfill is still fetching history (${progress}); spend appears as months arrive.`;
    }
    return "Nothing was spent in this date range.";
  }

  function renderChart(report, range, seriesDim) {
    const rows = report.rows || [];
    const slots = slotsFor(range);
    $("chart-title").textContent = range.bucket === "date" ? "Spend per day" : "Spend per month";

    // Series ordered by their exact total; beyond MAX_SERIES they are folded into "Other".
    const bySeries = new Map();
    for (const row of rows) {
      const key = String(row[seriesDim]);
      if (!bySeries.has(key)) bySeries.set(key, { key, label: dimensionLabel(seriesDim, row), rows: [] });
      bySeries.get(key).rows.push(row);
    }
    let series = [...bySeries.values()];
    for (const s of series) s.total = sumDecimals(s.rows.map((r) => r.cost_usd)) ?? "0";
    series.sort((a, b) => Number(b.total) - Number(a.total)); // ordering only
    if (series.length > MAX_SERIES) {
      const rest = series.slice(MAX_SERIES - 1);
      const other = { key: "__other__", label: `Other (${rest.length})`, rows: rest.flatMap((s) => s.rows) };
      other.total = sumDecimals(other.rows.map((r) => r.cost_usd)) ?? "0";
      series = [...series.slice(0, MAX_SERIES - 1), other];
    }
    series.forEach((s, i) => {
      const grey = s.key === "__other__" || (s.key === "null" && seriesDim === "model");
      s.color = grey ? OTHER_COLOR : PALETTE[i % PALETTE.length];
    });

    // cell[slot][series index] = exact decimal string of that bar segment
    const cells = new Map(slots.map((slot) => [slot, series.map(() => [])]));
    series.forEach((s, i) => {
      for (const row of s.rows) {
        const slotCell = cells.get(row[range.bucket]);
        if (slotCell && row.cost_usd !== null) slotCell[i].push(row.cost_usd);
      }
    });
    const stacks = slots.map((slot) => {
      const parts = cells.get(slot).map((values) => sumDecimals(values));
      return { slot, parts, total: sumDecimals(parts) };
    });

    drawChart(stacks, series, range, seriesDim);
    $("chart-legend").replaceChildren(
      ...series.map((s) => {
        const swatch = el("span", { className: "swatch", "aria-hidden": "true" });
        swatch.style.background = s.color;
        return el("li", {}, swatch, el("span", { text: s.label }), " ", money(s.total));
      }),
    );
  }

  function niceCeiling(value) {
    if (value <= 0) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
    return 10 * magnitude;
  }

  function drawChart(stacks, series, range, seriesDim) {
    const width = 900;
    const height = 280;
    const margin = { top: 12, right: 12, bottom: 30, left: 64 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const heights = stacks.map((s) => s.parts.map((p) => (p ? Number(p) : 0))); // geometry only
    const max = niceCeiling(Math.max(0, ...heights.map((h) => h.reduce((a, b) => a + b, 0))));
    const y = (v) => margin.top + plotH - (v / max) * plotH;
    const slotW = plotW / stacks.length;
    const barW = Math.max(1, slotW * (stacks.length > 60 ? 0.9 : 0.75));

    const by = { model: "model", workspace_id: "workspace", api_key_id: "API key (allocated)" }[seriesDim];
    const per = range.bucket === "date" ? "day" : "month";
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `Stacked bar chart of spend per ${per} by ${by}, ${range.from} to ${range.to}.`,
      className: "chart-svg",
    });

    for (let i = 0; i <= 4; i += 1) {
      const value = (max / 4) * i;
      root.append(
        svg("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), className: "grid" }),
        svg("text", { x: margin.left - 8, y: y(value) + 4, className: "axis y" }, formatAxisUsd(value)),
      );
    }

    const labelEvery = Math.ceil(stacks.length / 10);
    stacks.forEach((stack, i) => {
      const x = margin.left + i * slotW + (slotW - barW) / 2;
      const group = svg("g", { className: "bar" });
      const lines = [`${stack.slot}: ${stack.total === null ? "no spend" : formatUsd(stack.total)}`];
      let base = 0;
      stack.parts.forEach((part, s) => {
        if (!part) return;
        lines.push(`${series[s].label}: ${formatUsd(part)}`);
        const h = heights[i][s];
        const top = y(base + h);
        group.append(
          svg("rect", { x, y: top, width: barW, height: Math.max(0, y(base) - top), fill: series[s].color }),
        );
        base += h;
      });
      group.prepend(svg("title", {}, lines.join("\n")));
      // an invisible full-height target so thin bars still show their tooltip
      const slotX = margin.left + i * slotW;
      group.append(svg("rect", { x: slotX, y: margin.top, width: slotW, height: plotH, className: "hit" }));
      root.append(group);
      if (i % labelEvery === 0) {
        const cx = margin.left + i * slotW + slotW / 2;
        root.append(svg("text", { x: cx, y: height - 10, className: "axis x" }, slotLabel(stack.slot)));
      }
    });
    root.append(
      svg("line", {
        x1: margin.left,
        x2: width - margin.right,
        y1: y(0),
        y2: y(0),
        className: "baseline",
      }),
    );
    $("chart-svg").replaceChildren(root);
  }

  function renderTable(report, dims) {
    const rows = [...(report.rows || [])];
    rows.sort((a, b) => Number(b.cost_usd ?? -1) - Number(a.cost_usd ?? -1) || b.tokens - a.tokens); // order only
    const showUnknown = rows.some((r) => r.cost_unknown) || Boolean(report.total && report.total.cost_unknown);
    const numeric = (text) => el("th", { scope: "col", className: "num", text });

    $("breakdown-head").replaceChildren(
      ...(dims.length ? dims : ["__all__"]).map((d) => el("th", { scope: "col", text: DIMENSIONS[d] || "Usage" })),
      numeric("Tokens"),
      numeric("Cost (USD)"),
      showUnknown ? numeric("Tokens at unknown cost (priority tier)") : null,
    );
    const bodyRows = dims.length ? rows : [];
    $("breakdown-body").replaceChildren(
      ...bodyRows.map((row) =>
        el(
          "tr",
          {},
          ...dims.map((d, i) =>
            el(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, text: dimensionLabel(d, row), title: row[d] }),
          ),
          el("td", { className: "num", text: formatInt(row.tokens) }),
          el("td", { className: "num" }, money(row.cost_usd)),
          showUnknown ? unknownCell(row.cost_unknown) : null,
        ),
      ),
    );
    const total = report.total || {};
    $("breakdown-foot").replaceChildren(
      el(
        "tr",
        {},
        el("th", { scope: "row", colspan: Math.max(1, dims.length), text: "Total" }),
        el("td", { className: "num", text: formatInt(total.tokens) }),
        el("td", { className: "num" }, money(total.cost_usd)),
        showUnknown ? unknownCell(total.cost_unknown) : null,
      ),
    );
  }

  // ---------------------------------------------------------------- the FOCUS export (POST /costs/exports)

  const EXPORT_POLL_MS = 500;

  /** Start an export of the selected range, follow it, then download its file; every failure is said on the page. */
  async function onExport() {
    const button = $("export-button");
    const range = selectedRange();
    button.disabled = true;
    const queued = { status: "queued", from: range.from, to: range.to };
    showExportProgress({ ...queued, progress: { rows: 0, bytes: 0, days_done: 0, days_total: 0 } });
    try {
      let job = await api("POST", "/costs/exports", { from: range.from, to: range.to, format: "focus" });
      while (job.status === "queued" || job.status === "running") {
        showExportProgress(job);
        await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
        job = await api("GET", `/costs/exports/${encodeURIComponent(job.id)}`);
      }
      if (job.status !== "ready") {
        const error = job.error || {};
        throw new ApiError(0, error.code || "export_failed", error.message || "The export did not finish.");
      }
      showExportProgress(job);
      await downloadExport(job);
      showExportDone(`Downloaded ${job.filename}: ${formatInt(job.rows)} rows, ${formatBytes(job.bytes)}.`, "ok");
    } catch (error) {
      showExportDone(`Could not export the costs: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  function showExportProgress(job) {
    const { rows, bytes, days_done: done, days_total: total } = job.progress;
    const bar = $("export-progress");
    bar.hidden = false;
    if (total) {
      bar.max = total;
      bar.value = done;
    } else {
      bar.removeAttribute("value"); // indeterminate until the job knows its size
    }
    const figures = job.status === "queued" ? "queued" : `${formatInt(rows)} rows · ${formatBytes(bytes)}`;
    setStatus($("export-status"), `Exporting ${job.from} → ${job.to}: ${figures}…`);
  }

  function showExportDone(message, kind) {
    $("export-progress").hidden = true;
    setStatus($("export-status"), message, kind);
  }

  function formatBytes(n) {
    const value = Number(n) || 0;
    if (value >= 1e6) return `${(value / 1e6).toFixed(1)} MB`;
    return `${Math.max(1, Math.round(value / 1e3))} kB`;
  }

  /** Our own server's link is fetched first, so an expired or broken link is reported here rather than opened;
   * a presigned S3 URL (another origin, no CORS) is handed to the browser, which downloads it as an attachment. */
  async function downloadExport(job) {
    const url = job.download_url.startsWith("/") ? apiUrl(job.download_url) : job.download_url;
    if (new URL(url, location.href).origin !== location.origin) {
      clickDownload(url, job.filename);
      return;
    }
    let response;
    try {
      response = await fetch(url, { cache: "no-store" });
    } catch {
      throw new ApiError(0, "network_error", "The file could not be downloaded. Is the server running?");
    }
    if (!response.ok) {
      const error = ((await response.json().catch(() => null)) || {}).error || {};
      throw new ApiError(response.status, error.code || "download_failed", error.message || `HTTP ${response.status}.`);
    }
    const objectUrl = URL.createObjectURL(await response.blob());
    clickDownload(objectUrl, job.filename);
    setTimeout(() => URL.revokeObjectURL(objectUrl), 60000);
  }

  function clickDownload(href, filename) {
    const anchor = el("a", { href, download: filename });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  }

  // ---------------------------------------------------------------- settings form and start-up

  function onSaveSettings(event) {
    event.preventDefault();
    settings.base = $("api-base").value.trim();
    const token = $("api-token").value.trim();
    if (token) settings.token = token;
    $("api-token").value = "";
    $("api-token").placeholder = settings.token ? TOKEN_SAVED_HINT : "not needed locally";
    writeStorage(localStorage, STORE_BASE, settings.base);
    writeStorage(sessionStorage, STORE_TOKEN, settings.token);
    setStatus($("settings-status"), "Saved. Reloading…", "ok");
    state.signature = null;
    refreshConnections().then(schedulePoll);
  }

  function onForgetToken() {
    settings.token = "";
    $("api-token").value = "";
    $("api-token").placeholder = "not needed locally";
    writeStorage(sessionStorage, STORE_TOKEN, "");
    setStatus($("settings-status"), "Token forgotten.", "ok");
  }

  function start() {
    $("api-base").value = settings.base;
    if (settings.token) $("api-token").placeholder = TOKEN_SAVED_HINT;
    $("connect-form").addEventListener("submit", onConnect);
    $("settings-form").addEventListener("submit", onSaveSettings);
    $("api-token-clear").addEventListener("click", onForgetToken);
    $("export-button").addEventListener("click", onExport);
    $("range-picker").addEventListener("change", () => loadSpend());
    $("series-picker").addEventListener("change", () => loadChart());
    $("breakdown-picker").addEventListener("change", () => loadTable());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) poll();
    });
    renderRange(selectedRange());
    poll();
  }

  start();
})();
