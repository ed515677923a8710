// Pump local dashboard: connect an Anthropic organization, follow its backfill, look at the spend.
// Plain browser JavaScript, no build step and no third-party code. It talks only to the public API
// (/integrations/anthropic…, /costs, /costs/exports), so it works against a deployed stack given its URL and a token.
// The spend guard (budgets and alerts) lives in guard.js, which uses the helpers this file hands over as `window.Pump`
// and reloads when this file says the page is refreshed (the `pump:refresh` and `pump:connections` events).
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
  const COST_TYPES = {
    tokens: "Tokens",
    web_search: "Web search",
    code_execution: "Code execution",
    session_usage: "Agent sessions",
  };
  const TOKEN_TYPES = {
    uncached_input_tokens: "Input",
    output_tokens: "Output",
    cache_read_input_tokens: "Cache read",
    "cache_creation.ephemeral_5m_input_tokens": "Cache write (5 min)",
    "cache_creation.ephemeral_1h_input_tokens": "Cache write (1 h)",
  };
  // What the chart's "Break down by" choices are called in sentences (the chart's accessible name).
  const SERIES_NAMES = {
    model: "model",
    workspace_id: "workspace",
    api_key_id: "API key",
    actor: "person or service account",
    product: "product",
  };
  // Breakdowns only an API that reads Anthropic's analytics source offers (it then sends `list_cost_usd`).
  const ANALYTICS_SERIES = ["actor", "product"];
  const PRODUCTS = {
    claude_code: "Claude Code",
    messages_api: "Messages API",
    message_batches_api: "Message Batches API",
    claude_console: "Console / Workbench",
    managed_agents_api: "Managed Agents API",
  };
  const BEFORE_ANALYTICS = "unknown"; // what the API says for a dimension the legacy source does not report
  const ACTOR_KINDS = {
    user_actor: "person",
    service_account_actor: "service account",
    federated_actor: "federated identity",
    api_actor: "API key",
  };
  const ALLOCATIONS = {
    billed: "billed per key",
    proportional: "allocated",
    unattributed: "unattributed",
    mixed: "billed + allocated",
  };
  // Okabe–Ito, reordered so neighbours differ; "Other" is grey.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7A5195", "#B8860B"];
  const OTHER_COLOR = "#8A8F98";
  const NEUTRALS = ["#B3B8BF", "#5E646D", "#D0D4D9"]; // residual buckets (unattributed, before analytics…)
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
    constructor(status, code, message, retryAfter = null) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter; // seconds, as the API's Retry-After header said (429), else null
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
        response.headers.get("Retry-After"),
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

  function negateDecimal(text) {
    const value = String(text);
    return value.startsWith("-") ? value.slice(1) : `-${value}`;
  }

  /** Exact a − b of two decimal strings (null unless both are decimals). */
  function subtractDecimals(a, b) {
    if (!parseDecimal(a) || !parseDecimal(b)) return null;
    return sumDecimals([a, negateDecimal(b)]);
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

  /** A token count; null when the API has none for this breakdown (shown as a dash, never as 0). */
  function formatTokens(n) {
    return n === null || n === undefined ? "—" : formatInt(n);
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
      case "actor":
        return actorLabel(row);
      case "product":
        return productLabel(value);
      case "cost_type":
        return COST_TYPES[value] || value || "—";
      case "token_type":
        return value === null || value === undefined ? "— (not per token)" : TOKEN_TYPES[value] || value;
      default:
        return value ?? "—";
    }
  }

  /** A person or other identity: by name, else email, else id; rows without one say why. */
  function actorLabel(row) {
    if (row.actor_type === BEFORE_ANALYTICS) return "Before analytics (no per-person detail)";
    return row.actor_name || row.actor_email || row.actor_id || "Unattributed (no identity from Anthropic)";
  }

  /** "person", "service account"…: what kind of identity an actor row is, when Anthropic says. */
  function actorKind(row) {
    return ACTOR_KINDS[row.actor_type] || "";
  }

  function productLabel(product) {
    if (product === null || product === undefined) return "No product (e.g. code execution)";
    if (product === BEFORE_ANALYTICS) return "Before analytics (product not reported)";
    return PRODUCTS[product] || product;
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
    const text = !unknownText(unknown)
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
    document.dispatchEvent(new CustomEvent("pump:connections"));
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
    document.dispatchEvent(new CustomEvent("pump:refresh")); // the spend guard reloads with the spend
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
    showTotalLoading(range);
    try {
      const report = await loadCostReport(range, [range.bucket, series]);
      if (seq !== state.chartSeq) return;
      showSpendError(null);
      offerAnalyticsBreakdowns(report);
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

  /** While a new range is fetched, the old range's total must not stand under the new dates. */
  function showTotalLoading(range) {
    const amount = $("total-amount");
    if (amount.dataset.from === range.from && amount.dataset.to === range.to) return;
    amount.textContent = "Loading…";
    amount.dataset.exact = "";
    amount.dataset.loading = "true";
    amount.title = `Loading ${range.from} → ${range.to}`;
    $("total-exact").textContent = "";
    $("total-tokens").textContent = `${range.from} → ${range.to}`;
  }

  function renderTotal(report) {
    const total = report.total || {};
    const amount = $("total-amount");
    delete amount.dataset.loading;
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
    const tokens = total.tokens === null || total.tokens === undefined ? "" : `${formatInt(total.tokens)} tokens · `;
    $("total-tokens").textContent = `${tokens}${report.from} → ${report.to}`;
    renderDiscount(report);
    renderSources(report);

    const unknown = unknownText(total.cost_unknown);
    $("cost-unknown-notice").hidden = !unknown;
    const legacy = legacySpans(report);
    const when = legacy.length ? ` on days read from Anthropic's legacy cost report (${legacy.join(", ")})` : "";
    $("cost-unknown-text").textContent = unknown
      ? `${unknown} ran on the priority tier${when}, which that report does not price. ` +
        "They are listed below but not counted in the total (never as $0)."
      : "";

    const empty = !(report.rows || []).length && !total.tokens && !unknown;
    $("spend-empty").hidden = !empty;
    $("spend-data").hidden = empty;
    $("total-card").hidden = empty;
    $("spend-empty-text").textContent = emptyReason();
  }

  /** The range's discount, list price − net, exactly. When some days lack a list price (legacy days), the discount
   * over the days that have one (`total.list_priced`), saying on how many days; unknown (never $0) when no day has
   * one. An API that sends no list prices at all gets no discount figure. */
  function renderDiscount(report) {
    const total = report.total || {};
    const box = $("discount");
    box.hidden = !("list_cost_usd" in total);
    if (box.hidden) return;
    const amount = $("discount-amount");
    const detail = $("discount-detail");
    const known = total.list_cost_usd !== null && total.cost_usd !== null && total.cost_usd !== undefined;
    const priced = total.list_priced;
    const partial = !known && priced && priced.days > 0;
    const discount = known
      ? subtractDecimals(total.list_cost_usd, total.cost_usd)
      : partial
        ? subtractDecimals(priced.list_cost_usd, priced.cost_usd)
        : null;
    amount.dataset.exact = discount ?? "";
    amount.classList.toggle("unknown", discount === null);
    if (discount === null) {
      amount.textContent = "Unknown";
      amount.title = "";
      detail.textContent = unknownDiscountReason(report);
      detail.title = "";
      return;
    }
    amount.textContent = formatUsd(discount);
    amount.title = `${discount} ${report.currency || "USD"} (exact)`;
    if (partial) {
      const share = percentOf(discount, priced.list_cost_usd);
      detail.textContent =
        `Discount on ${formatInt(priced.days)} of ${formatInt(priced.of_days)} days: ${formatUsd(discount)}` +
        (share === null ? "" : ` (${share}%)`);
      detail.title =
        `List price ${priced.list_cost_usd} − net ${priced.cost_usd} = ${discount} (exact) over the days with a ` +
        "list price; Anthropic's legacy cost report has none for the others.";
      return;
    }
    detail.textContent = `List price ${formatUsd(total.list_cost_usd)} − net ${formatUsd(total.cost_usd)}`;
    detail.title = `${total.list_cost_usd} − ${total.cost_usd} = ${discount} (exact)`;
  }

  /** part / whole as a percentage with one decimal, rounded half-up, computed exactly; null when whole is 0. */
  function percentOf(part, whole) {
    const p = parseDecimal(part);
    const w = parseDecimal(whole);
    if (!p || !w || w.value === 0n) return null;
    const scale = Math.max(p.scale, w.scale);
    const num = p.value * 10n ** BigInt(scale - p.scale) * 1000n;
    const den = w.value * 10n ** BigInt(scale - w.scale);
    const negative = num < 0n !== den < 0n;
    const a = num < 0n ? -num : num;
    const b = den < 0n ? -den : den;
    const tenths = (a * 2n + b) / (2n * b); // half-up
    const text = `${tenths / 10n}.${tenths % 10n}`;
    return negative && tenths ? `-${text}` : text;
  }

  function unknownDiscountReason(report) {
    const legacy = legacySpans(report);
    if (legacy.length) {
      const days = legacy.join(", ");
      return `Unknown for days before the analytics API (${days}): Anthropic's legacy cost report has no list price.`;
    }
    if ((report.total || {}).cost_usd === null) return "Unknown: part of the usage has no cost (priority tier).";
    return "Unknown: some days in this range have no list price.";
  }

  /** "2025-12-01 → 2025-12-31" for each stretch of the range read from Anthropic's legacy reports. */
  function legacySpans(report) {
    return (report.sources || []).filter((s) => s.source === "legacy").map((s) => `${s.from} → ${s.to}`);
  }

  function renderSources(report) {
    const names = { analytics: "Anthropic's analytics API", legacy: "legacy cost report" };
    const sources = report.sources || [];
    $("total-sources").textContent = sources.length
      ? `Source: ${sources.map((s) => `${names[s.source] || s.source} ${s.from} → ${s.to}`).join("; ")}`
      : "";
  }

  /** An API without the analytics source (no `list_cost_usd`) cannot break spend down by person or product. */
  function offerAnalyticsBreakdowns(report) {
    const available = "list_cost_usd" in (report.total || {});
    for (const value of ANALYTICS_SERIES) {
      const input = document.querySelector(`input[name="series"][value="${value}"]`);
      input.disabled = !available;
      input.labels[0].title = available ? "" : "This API does not break spend down this way yet.";
    }
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
    $("chart-title").textContent = range.bucket === "date" ? "Spend per day" : "Spend per month";
    const series = colourSeries(foldIntoOther(seriesOf(rows, seriesDim)));
    const stacks = stacksOf(slotsFor(range), series, range.bucket);
    const provisional = provisionalSlots(report, range, stacks);
    for (const stack of stacks) stack.provisional = provisional.has(stack.slot);

    drawChart(stacks, series, range, seriesDim);
    $("chart-legend").replaceChildren(...series.map((s) => legendItem(s, seriesDim)));
    renderProvisionalNote(report, range, provisional.size > 0);
    renderChartNotes(rows, seriesDim);
  }

  const OTHER_KEY = "__other__";

  /** The key that tells one series from another: the row's group key (an actor's is its `actor` value, since a
   * federated identity has no id; without one, its type and id). */
  function seriesKey(dim, row) {
    if (dim === "actor" && !("actor" in row)) return `${row.actor_type}:${row.actor_id}`;
    if (dim === "model") return String(modelFamily(row.model));
    return String(row[dim]);
  }

  const DATED_MODEL = /-[0-9]{8}$/;

  /** One series per model across the change of source: the legacy reports name a model with its snapshot date
   * (claude-sonnet-4-5-20250929), the analytics API without it (claude-sonnet-4-5). */
  function modelFamily(model) {
    return model === null || model === undefined ? model : model.replace(DATED_MODEL, "");
  }

  /** Buckets that are not a real value of the breakdown (no model, before analytics, unattributed): greys. */
  function isResidual(dim, row) {
    switch (dim) {
      case "model":
        return row.model === null;
      case "actor":
        return row.actor_type === BEFORE_ANALYTICS || (!row.actor_id && !row.actor_name && !row.actor_email);
      case "product":
        return row.product === null || row.product === BEFORE_ANALYTICS;
      default:
        return false;
    }
  }

  /** One series per value of the breakdown, largest exact total first. */
  function seriesOf(rows, dim) {
    const byKey = new Map();
    for (const row of rows) {
      const key = seriesKey(dim, row);
      if (!byKey.has(key)) {
        const label = dim === "model" && row.model ? modelFamily(row.model) : dimensionLabel(dim, row);
        byKey.set(key, { key, label, residual: isResidual(dim, row), first: row, rows: [] });
      }
      byKey.get(key).rows.push(row);
    }
    const series = [...byKey.values()];
    for (const s of series) s.total = exactTotal(s.rows);
    return series.sort((a, b) => Number(b.total) - Number(a.total)); // ordering only
  }

  function exactTotal(rows) {
    return sumDecimals(rows.map((r) => r.cost_usd)) ?? "0";
  }

  /** Beyond MAX_SERIES, the smallest series are folded into one "Other". */
  function foldIntoOther(series) {
    if (series.length <= MAX_SERIES) return series;
    const rest = series.slice(MAX_SERIES - 1);
    const rows = rest.flatMap((s) => s.rows);
    const other = { key: OTHER_KEY, label: `Other (${rest.length})`, residual: true, first: null, rows };
    other.total = exactTotal(rows);
    return [...series.slice(0, MAX_SERIES - 1), other];
  }

  function colourSeries(series) {
    let coloured = 0;
    let grey = 0;
    for (const s of series) {
      if (s.key === OTHER_KEY) s.color = OTHER_COLOR;
      else if (s.residual) s.color = NEUTRALS[grey++ % NEUTRALS.length];
      else s.color = PALETTE[coloured++ % PALETTE.length];
    }
    return series;
  }

  /** Per slot (day or month): the exact amount of each series, in series order, and their sum. */
  function stacksOf(slots, series, bucket) {
    const cells = new Map(slots.map((slot) => [slot, series.map(() => [])]));
    series.forEach((s, i) => {
      for (const row of s.rows) {
        const slotCell = cells.get(row[bucket]);
        if (slotCell && row.cost_usd !== null) slotCell[i].push(row.cost_usd);
      }
    });
    return slots.map((slot) => {
      const parts = cells.get(slot).map((values) => sumDecimals(values));
      return { slot, parts, total: sumDecimals(parts) };
    });
  }

  /** The slots Anthropic may still revise: days after `settled_through` (months holding one), and any row the API
   * marks provisional. An API that says neither marks nothing. */
  function provisionalSlots(report, range, stacks) {
    const marked = new Set();
    const settled = report.settled_through;
    if (settled) {
      for (const { slot } of stacks) if (lastDayOf(slot, range) > settled) marked.add(slot);
    }
    for (const row of report.rows || []) if (row.provisional === true) marked.add(row[range.bucket]);
    return marked;
  }

  /** A day slot's day; a month slot's last day within the range. */
  function lastDayOf(slot, range) {
    if (slot.length === 10) return slot;
    const [year, month] = slot.split("-").map(Number);
    const monthEnd = isoDay(new Date(Date.UTC(year, month, 0))); // day 0 of the next month
    return monthEnd < range.to ? monthEnd : range.to;
  }

  function legendItem(s, dim) {
    const swatch = el("span", { className: "swatch", "aria-hidden": "true" });
    swatch.style.background = s.color;
    const detail = seriesDetail(s, dim);
    return el(
      "li",
      { "data-series": s.key, title: s.first && s.first.actor_note },
      swatch,
      el("span", { className: "series-label", text: s.label }),
      detail ? " " : null,
      detail ? el("span", { className: "series-detail muted", text: `(${detail})` }) : null,
      " ",
      money(s.total),
    );
  }

  /** What kind of identity an actor series is; how an API key's cost was attributed. */
  function seriesDetail(s, dim) {
    if (!s.first) return "";
    if (dim === "actor") return actorKind(s.first);
    if (dim === "api_key_id") return ALLOCATIONS[allocationOf(s.rows)] || "";
    return "";
  }

  /** "billed", "proportional"… when every row says the same; "mixed" when they differ. */
  function allocationOf(rows) {
    const methods = new Set(rows.map((r) => r.allocation).filter(Boolean));
    if (methods.size > 1) return "mixed";
    return methods.size ? [...methods][0] : null;
  }

  function renderProvisionalNote(report, range, shown) {
    const after = report.settled_through ? ` (after ${report.settled_through})` : "";
    const what = range.bucket === "date" ? "these days" : "days in these months";
    $("chart-provisional").hidden = !shown;
    $("chart-provisional-text").textContent = shown
      ? `Hatched bars are provisional: Anthropic may still revise ${what}${after}.`
      : "";
  }

  /** Sentences about the breakdown itself: how API-key cost was attributed, what the API says about identities. */
  function renderChartNotes(rows, dim) {
    const notes = [];
    if (dim === "api_key_id") notes.push(...allocationNotes(rows));
    if (dim === "actor") notes.push(...actorNotes(rows));
    const analyticsOnly = ANALYTICS_SERIES.includes(dim);
    const legacy = analyticsOnly ? rows.filter((r) => r[dim] === BEFORE_ANALYTICS) : [];
    if (legacy.length && !legacy.some((r) => r.actor_note)) {
      notes.push("Days read from Anthropic's legacy cost report have no per-person or per-product detail.");
    }
    $("chart-notes").replaceChildren(...notes.map((text) => el("li", { text })));
  }

  /** The API's sentences about identities, each after the names it applies to: "svac_01…: names can't be read". */
  function actorNotes(rows) {
    const namesByNote = new Map();
    for (const row of rows) {
      if (!row.actor_note) continue;
      if (!namesByNote.has(row.actor_note)) namesByNote.set(row.actor_note, new Set());
      namesByNote.get(row.actor_note).add(actorLabel(row));
    }
    return [...namesByNote].map(([note, names]) => `${listNames([...names])}: ${note}`);
  }

  function listNames(names, shown = 3) {
    if (names.length <= shown) return names.join(", ");
    return `${names.slice(0, shown).join(", ")} and ${names.length - shown} more`;
  }

  function allocationNotes(rows) {
    const methods = new Set(rows.map((r) => r.allocation));
    const notes = [];
    if (methods.has("billed") || methods.has("mixed")) {
      notes.push("Billed per key: Anthropic's own per-key cost, on the days read from its analytics API.");
    }
    if (methods.has("proportional") || methods.has("mixed")) {
      notes.push(
        "Allocated: where Anthropic reported cost per workspace only (its legacy cost report), a workspace's cost " +
          "is split across its keys in proportion to their usage.",
      );
    }
    return notes;
  }

  function niceCeiling(value) {
    if (value <= 0) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
    return 10 * magnitude;
  }

  const HATCH_ID = "provisional-hatch";

  function drawChart(stacks, series, range, seriesDim) {
    const width = 900;
    const height = 280;
    const margin = { top: 12, right: 12, bottom: 30, left: 64 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const heights = stacks.map((s) => s.parts.map((p) => (p ? Number(p) : 0))); // geometry only
    const max = niceCeiling(Math.max(0, ...heights.map((h) => h.reduce((a, b) => a + b, 0))));
    const slotW = plotW / stacks.length;
    const geometry = {
      y: (v) => margin.top + plotH - (v / max) * plotH,
      slotX: (i) => margin.left + i * slotW,
      slotW,
      barW: Math.max(1, slotW * (stacks.length > 60 ? 0.9 : 0.75)),
      top: margin.top,
      plotH,
    };
    const y = geometry.y;

    const per = range.bucket === "date" ? "day" : "month";
    const by = SERIES_NAMES[seriesDim] || seriesDim;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `Stacked bar chart of spend per ${per} by ${by}, ${range.from} to ${range.to}.`,
      className: "chart-svg",
    });
    root.append(hatchPattern());

    for (let i = 0; i <= 4; i += 1) {
      const value = (max / 4) * i;
      root.append(
        svg("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), className: "grid" }),
        svg("text", { x: margin.left - 8, y: y(value) + 4, className: "axis y" }, formatAxisUsd(value)),
      );
    }

    const labelEvery = Math.ceil(stacks.length / 10);
    stacks.forEach((stack, i) => {
      root.append(drawBar(stack, heights[i], series, geometry, i));
      if (i % labelEvery === 0) {
        const cx = geometry.slotX(i) + slotW / 2;
        root.append(svg("text", { x: cx, y: height - 10, className: "axis x" }, slotLabel(stack.slot)));
      }
    });
    root.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0), className: "baseline" }),
    );
    $("chart-svg").replaceChildren(root);
  }

  /** Diagonal light stripes, laid over the bars of provisional days. */
  function hatchPattern() {
    const pattern = svg(
      "pattern",
      { id: HATCH_ID, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svg("rect", { width: 2.5, height: 6, className: "hatch-stripe" }),
    );
    return svg("defs", {}, pattern);
  }

  /** One slot's stacked bar, its tooltip, and (provisional slots) a light band behind it and hatching over it. */
  function drawBar(stack, heights, series, geometry, i) {
    const { y, barW, slotW } = geometry;
    const slotX = geometry.slotX(i);
    const x = slotX + (slotW - barW) / 2;
    const group = svg("g", {
      className: stack.provisional ? "bar provisional" : "bar",
      "data-slot": stack.slot,
      "data-provisional": stack.provisional ? "true" : "false",
    });
    const amount = stack.total === null ? "no spend" : formatUsd(stack.total);
    const revisable = stack.provisional ? " (provisional: Anthropic may still revise it)" : "";
    const lines = [`${stack.slot}: ${amount}${revisable}`];
    if (stack.provisional) {
      group.append(
        svg("rect", { x: slotX, y: geometry.top, width: slotW, height: geometry.plotH, className: "provisional-band" }),
      );
    }
    let base = 0;
    stack.parts.forEach((part, s) => {
      if (!part) return;
      lines.push(`${series[s].label}: ${formatUsd(part)}`);
      const top = y(base + heights[s]);
      const height = Math.max(0, y(base) - top);
      group.append(svg("rect", { x, y: top, width: barW, height, fill: series[s].color, className: "segment" }));
      base += heights[s];
    });
    if (stack.provisional && base > 0) {
      const top = y(base);
      group.append(
        svg("rect", { x, y: top, width: barW, height: y(0) - top, fill: `url(#${HATCH_ID})`, className: "hatch" }),
      );
    }
    group.prepend(svg("title", {}, lines.join("\n")));
    // an invisible full-height target so thin bars still show their tooltip
    group.append(svg("rect", { x: slotX, y: geometry.top, width: slotW, height: geometry.plotH, className: "hit" }));
    return group;
  }

  function renderTable(report, dims) {
    const rows = [...(report.rows || [])];
    rows.sort((a, b) => Number(b.cost_usd ?? -1) - Number(a.cost_usd ?? -1) || b.tokens - a.tokens); // order only
    // Every row carries cost_unknown (zeros when none): the column shows only when some usage has no cost.
    const showUnknown = [...rows, report.total || {}].some((r) => unknownText(r.cost_unknown));
    const numeric = (text) => el("th", { scope: "col", className: "num", text });

    $("breakdown-head").replaceChildren(
      ...(dims.length ? dims : ["__all__"]).map((d) => el("th", { scope: "col", text: DIMENSIONS[d] || "Usage" })),
      numeric("Tokens"),
      numeric("Cost (USD)"),
      ...(showUnknown ? [numeric("Tokens at unknown cost (priority tier)")] : []),
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
          el("td", { className: "num", text: formatTokens(row.tokens) }),
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
        el("td", { className: "num", text: formatTokens(total.tokens) }),
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
    // Deferred scripts all run before DOMContentLoaded: guard.js is listening by the time the first poll reports.
    document.addEventListener("DOMContentLoaded", () => poll(), { once: true });
  }

  // What guard.js (the budgets and alerts) shares with this file: one API client, one way to show amounts.
  // finance.js (rates, savings, reconciliation, today by hour) uses more of them: decimals, labels, the range.
  window.Pump = Object.freeze({
    api,
    el,
    svg,
    setStatus,
    money,
    formatUsd,
    formatInt,
    formatTokens,
    formatAxisUsd,
    niceCeiling,
    parseDecimal,
    sumDecimals,
    groupThousands,
    dimensionLabel,
    costTypeLabel: (value) => COST_TYPES[value] || value || "—",
    tokenTypeLabel: (value) => TOKEN_TYPES[value] || value,
    selectedRange,
    formatDateTime,
    percentOf,
    isoDay,
    addDays,
    productLabel,
    connections: () => state.connections,
  });

  start();
})();
