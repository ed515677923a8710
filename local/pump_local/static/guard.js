// Pump local dashboard, the spend guard: monthly budgets (a bar each: month to date against the budget, its alert
// thresholds and the month-end forecast) and the alerts the sync raised. It talks to /budgets and /alerts with
// app.js's API client (`window.Pump`) and reloads whenever app.js refreshes the page (the `pump:refresh` event).
// Amounts stay the API's exact decimal strings; text from the customer's organization is only ever set as text.
"use strict";

(() => {
  const { api, el, setStatus, money, formatUsd, formatDateTime, percentOf, isoDay, addDays, productLabel } =
    window.Pump;

  const WORKSPACE_DAYS = 365; // the workspaces offered for a budget: those with spend in this many days
  const WORKSPACES_FRESH_MS = 5 * 60 * 1000; // asked again after this long (a year of costs costs 13 read units)
  const DEFAULT_WORKSPACE = ""; // the form's value for the Default workspace (the API's null)
  const OTHER_WORKSPACE = "__other__"; // "type its id"
  const BUDGET_STATUS = {
    ok: "On track",
    forecast_over: "Forecast over budget",
    warning: "Threshold reached",
    exceeded: "Over budget",
  };
  const SCOPE_TYPES = {
    organization: "Whole organization",
    workspace: "Workspace",
    api_key: "API key",
    actor: "Person / service account",
    product: "Product",
  };
  const SCOPE_HINTS = {
    workspace: "A workspace id (wrkspc_…); leave it empty for the Default workspace.",
    api_key: "An API key id (apikey_…).",
    actor: "A person's or service account's id (user_…) or email.",
    product: "claude_code, messages_api, message_batches_api, claude_console or managed_agents_api.",
  };
  const ALERT_KINDS = {
    budget_threshold: "Budget threshold",
    budget_forecast: "Budget forecast",
    spend_anomaly: "Spend anomaly",
    new_key_spend: "New key spending",
    inactive_key_spend: "Inactive key spending",
    spend_limit_headroom: "Spend limit headroom",
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    budgets: [],
    loading: false,
    pending: false,
    loaded: false,
    editing: null, // the budget the form edits; null: the form creates one
    workspaces: null, // [{id, name}] seen in the costs, once asked for
    workspacesAt: 0,
    workspacesLoading: null,
  };

  // ---------------------------------------------------------------- loading (with the rest of the page)

  /** Reload budgets and alerts; calls made while one runs are folded into one more run after it. */
  async function refresh() {
    if (state.loading) {
      state.pending = true;
      return;
    }
    state.loading = true;
    for (const id of ["budgets", "alerts"]) $(id).setAttribute("aria-busy", "true");
    if (!state.loaded) setStatus($("budgets-status"), "Loading the budgets…");
    try {
      await Promise.all([loadBudgets(), loadAlerts()]);
    } finally {
      state.loading = false;
      state.loaded = true;
      for (const id of ["budgets", "alerts"]) $(id).removeAttribute("aria-busy");
      if (state.pending) {
        state.pending = false;
        refresh();
      }
    }
  }

  async function loadBudgets() {
    const status = $("budgets-status");
    try {
      const body = await api("GET", "/budgets");
      state.budgets = body.budgets || [];
      if (!state.loaded || status.classList.contains("error")) setStatus(status, "");
      renderBudgets();
      if (state.budgets.some((b) => b.scope.type === "workspace" && b.scope.id)) {
        await loadWorkspaces();
        renderBudgets(); // now with the workspaces' names
      }
    } catch (error) {
      setStatus(status, `Could not load the budgets: ${error.message}`, "error");
    }
  }

  async function loadAlerts() {
    const status = $("alerts-status");
    try {
      // Every page of the range (alerts are few; a page holds up to 1,000).
      const body = await api("GET", "/alerts");
      for (let page = body; page.has_more && page.next_page; ) {
        page = await api("GET", `/alerts?page=${encodeURIComponent(page.next_page)}`);
        body.alerts = [...body.alerts, ...page.alerts];
      }
      setStatus(status, "");
      renderAlerts(body);
    } catch (error) {
      setStatus(status, `Could not load the alerts: ${error.message}`, "error");
    }
  }

  /** The workspaces with spend in the last WORKSPACE_DAYS days (GET /costs by workspace), named as the costs name
   * them. One request at a time; an API that cannot answer leaves the list empty (an id can still be typed). */
  function loadWorkspaces() {
    if (state.workspaces && Date.now() - state.workspacesAt < WORKSPACES_FRESH_MS) {
      return Promise.resolve(state.workspaces);
    }
    if (!state.workspacesLoading) {
      const to = isoDay(new Date());
      const query = new URLSearchParams({
        from: addDays(to, -(WORKSPACE_DAYS - 1)),
        to,
        group_by: "workspace_id",
        limit: "10000",
      });
      state.workspacesLoading = api("GET", `/costs?${query}`)
        .then((report) =>
          (report.rows || [])
            .filter((row) => row.workspace_id)
            .map((row) => ({ id: row.workspace_id, name: row.workspace_name || row.workspace_id })),
        )
        .catch(() => [])
        .then((workspaces) => {
          state.workspaces = workspaces;
          state.workspacesAt = Date.now();
          state.workspacesLoading = null;
          return workspaces;
        });
    }
    return state.workspacesLoading;
  }

  // ---------------------------------------------------------------- budgets

  const cards = new Map(); // budget id → {root, fields}

  function buildCard(budget) {
    const titleId = `budget-${budget.id}-title`;
    const fields = {
      title: el("h3", { id: titleId }),
      badge: el("span", { className: "badge" }),
      scope: el("p", { className: "budget-scope muted" }),
      figures: el("p", { className: "budget-figures" }),
      bar: el("div", { className: "budget-bar", role: "img" }),
      thresholds: el("ul", { className: "budget-thresholds", "aria-label": "Alert thresholds" }),
      edit: el("button", { type: "button", className: "secondary", text: "Edit" }),
      remove: el("button", { type: "button", className: "danger", text: "Delete" }),
      message: el("p", { className: "status", role: "status", "aria-live": "polite" }),
    };
    const root = el(
      "article",
      { className: "budget", "data-budget-id": budget.id, "aria-labelledby": titleId },
      el("header", { className: "connection-head" }, fields.title, fields.badge),
      fields.scope,
      fields.figures,
      fields.bar,
      fields.thresholds,
      el("div", { className: "actions" }, fields.edit, fields.remove),
      fields.message,
    );
    fields.edit.addEventListener("click", () => startEditing(budget.id));
    fields.remove.addEventListener("click", () => deleteBudget(budget.id));
    return { root, fields };
  }

  function updateCard(card, budget) {
    const f = card.fields;
    card.root.dataset.status = budget.status;
    f.title.textContent = budget.name;
    f.badge.textContent = statusText(budget);
    f.badge.className = `badge budget-status-${budget.status}`;
    f.badge.dataset.status = budget.status;
    f.scope.textContent = `${scopeText(budget.scope)} · ${connectionName(budget.connection_id)} · ${budget.month}`;

    const used = percentOf(budget.month_to_date_usd, budget.monthly_usd);
    f.figures.replaceChildren(
      el("span", { className: "budget-mtd" }, money(budget.month_to_date_usd)),
      " of ",
      el("span", { className: "budget-monthly" }, money(budget.monthly_usd)),
      " this month",
      used === null ? null : ` (${used}%)`,
      " · forecast for the month's end ",
      el("span", { className: "budget-forecast-amount" }, money(budget.forecast_month_end_usd)),
    );
    drawBar(f.bar, budget, used);

    const crossedAt = new Map((budget.crossed || []).map((c) => [c.threshold, c]));
    f.thresholds.replaceChildren(
      ...[...budget.thresholds]
        .sort((a, b) => a - b)
        .map((threshold) => {
          const crossed = crossedAt.get(threshold);
          const when = !crossed
            ? ""
            : crossed.at
              ? `reached, alerted ${formatDateTime(crossed.at)}`
              : "reached, alert on the next sync";
          return el(
            "li",
            { className: crossed ? "crossed" : null, "data-threshold": threshold },
            `${threshold}%`,
            when ? el("span", { className: "muted", text: ` (${when})` }) : null,
          );
        }),
    );
  }

  /** Status in words; a warning says the highest threshold reached. */
  function statusText(budget) {
    if (budget.status !== "warning") return BUDGET_STATUS[budget.status] || budget.status;
    const reached = (budget.crossed || []).map((c) => c.threshold);
    return reached.length ? `Warning: ${Math.max(...reached)}% reached` : BUDGET_STATUS.warning;
  }

  /** The bar: month to date filled, a tick per threshold, the budget line, a diamond at the forecast. The scale
   * holds all of them (the budget, the highest threshold, the month to date and the forecast). Positions use
   * parseFloat: geometry only, every figure shown is the API's exact string. */
  function drawBar(bar, budget, used) {
    const monthly = parseFloat(budget.monthly_usd) || 0;
    const spent = parseFloat(budget.month_to_date_usd) || 0;
    const forecast = parseFloat(budget.forecast_month_end_usd) || 0;
    const top = Math.max(monthly, spent, forecast, (monthly * Math.max(0, ...budget.thresholds)) / 100) || 1;
    const at = (value) => `${Math.min(100, (value / top) * 100).toFixed(3)}%`;

    const fill = el("span", { className: "budget-fill" });
    fill.style.width = at(spent);
    const limit = el("span", { className: "budget-limit", title: `Budget: ${formatUsd(budget.monthly_usd)}` });
    limit.style.left = at(monthly);
    const ticks = budget.thresholds.map((threshold) => {
      const reached = (budget.crossed || []).some((c) => c.threshold === threshold);
      const tick = el("span", {
        className: reached ? "budget-tick crossed" : "budget-tick",
        "data-threshold": threshold,
        title: `${threshold}% of the budget`,
      });
      tick.style.left = at((monthly * threshold) / 100);
      return tick;
    });
    const marker = el("span", {
      className: "budget-forecast",
      title: `Forecast for the month's end: ${formatUsd(budget.forecast_month_end_usd)}`,
    });
    marker.style.left = at(forecast);
    bar.dataset.status = budget.status;
    bar.setAttribute(
      "aria-label",
      `${formatUsd(budget.month_to_date_usd)} spent of ${formatUsd(budget.monthly_usd)}` +
        (used === null ? "" : ` (${used}%)`) +
        `; forecast ${formatUsd(budget.forecast_month_end_usd)}; thresholds at ` +
        budget.thresholds.map((t) => `${t}%`).join(", "),
    );
    bar.replaceChildren(el("span", { className: "budget-track" }, fill, ...ticks, limit, marker));
  }

  function scopeText(scope) {
    const kind = SCOPE_TYPES[scope.type] || scope.type;
    switch (scope.type) {
      case "organization":
        return kind;
      case "workspace":
        return `${kind}: ${scope.id ? workspaceName(scope.id) : "Default workspace"}`;
      case "product":
        return `${kind}: ${productLabel(scope.id)}`;
      default:
        return `${kind}: ${scope.id}`;
    }
  }

  function workspaceName(id) {
    const seen = (state.workspaces || []).find((w) => w.id === id);
    return seen && seen.name !== id ? `${seen.name} (${id})` : id;
  }

  function connectionName(id) {
    const connection = window.Pump.connections().find((c) => c.id === id);
    return (connection && connection.organization && connection.organization.name) || id;
  }

  function renderBudgets() {
    const seen = new Set();
    let previous = $("budgets-empty");
    for (const budget of state.budgets) {
      seen.add(budget.id);
      let card = cards.get(budget.id);
      if (!card) {
        card = buildCard(budget);
        cards.set(budget.id, card);
      }
      // In the API's order; a card already in place is not moved (that would take the focus off its buttons).
      if (previous.nextElementSibling !== card.root) previous.after(card.root);
      previous = card.root;
      updateCard(card, budget);
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    $("budgets-empty").hidden = state.budgets.length > 0;
  }

  async function deleteBudget(id) {
    const budget = state.budgets.find((b) => b.id === id);
    const card = cards.get(id);
    if (!budget || !card) return;
    if (!window.confirm(`Delete the budget “${budget.name}”? The alerts it raised stay listed.`)) return;
    card.root.setAttribute("aria-busy", "true");
    card.fields.edit.disabled = card.fields.remove.disabled = true;
    setStatus(card.fields.message, "Deleting…");
    try {
      await api("DELETE", `/budgets/${encodeURIComponent(id)}`);
      state.budgets = state.budgets.filter((b) => b.id !== id);
      if (state.editing === id) stopEditing();
      renderBudgets();
      setStatus($("budgets-status"), `Deleted the budget “${budget.name}”.`, "ok");
      refresh(); // after any load that started before the deletion
    } catch (error) {
      setStatus(card.fields.message, error.message, "error");
    } finally {
      card.root.removeAttribute("aria-busy");
      card.fields.edit.disabled = card.fields.remove.disabled = false;
    }
  }

  // ---------------------------------------------------------------- the budget form (create and edit)

  function renderConnectionChoices() {
    const select = $("budget-connection");
    const chosen = select.value || (state.editing && budgetById(state.editing)?.connection_id) || "";
    const live = window.Pump.connections().filter((c) => c.status !== "disconnected" || c.id === chosen);
    const options = live.map((c) =>
      el("option", { value: c.id, text: (c.organization && c.organization.name) || c.id }),
    );
    if (chosen && !live.some((c) => c.id === chosen)) options.push(el("option", { value: chosen, text: chosen }));
    const signature = options.map((o) => `${o.value}=${o.textContent}`).join("|");
    if (select.dataset.signature !== signature) {
      select.dataset.signature = signature;
      select.replaceChildren(...options);
      if (chosen) select.value = chosen;
    }
    const none = !options.length;
    $("budget-save").disabled = none;
    $("budget-no-connection").hidden = !none;
  }

  /** The workspace select: the Default workspace, those the costs have seen (once they are loaded), "another". */
  async function renderWorkspaceChoices(chosen) {
    const select = $("budget-workspace");
    if (!state.workspaces) fillWorkspaces([], chosen ?? select.value);
    const workspaces = await loadWorkspaces();
    fillWorkspaces(workspaces, chosen ?? select.value);
  }

  function fillWorkspaces(workspaces, keep) {
    const select = $("budget-workspace");
    const known = workspaces.some((w) => w.id === keep);
    select.replaceChildren(
      el("option", { value: DEFAULT_WORKSPACE, text: "Default workspace" }),
      ...workspaces.map((w) => el("option", { value: w.id, text: w.name === w.id ? w.id : `${w.name} (${w.id})` })),
      el("option", { value: OTHER_WORKSPACE, text: "Another workspace (type its id)" }),
    );
    if (keep === OTHER_WORKSPACE || known || keep === DEFAULT_WORKSPACE) {
      select.value = keep;
    } else {
      select.value = OTHER_WORKSPACE; // an id the costs have not seen: kept as typed
      $("budget-scope-id").value = keep;
    }
    showScopeFields();
  }

  /** Which scope inputs the chosen scope type needs. */
  function showScopeFields() {
    const type = $("budget-scope-type").value;
    const workspace = type === "workspace";
    const typed = workspace ? $("budget-workspace").value === OTHER_WORKSPACE : type !== "organization";
    $("budget-workspace-field").hidden = !workspace;
    $("budget-scope-id-field").hidden = !typed;
    $("budget-scope-hint").textContent = SCOPE_HINTS[type] || "";
  }

  function onScopeTypeChange() {
    showScopeFields();
    if ($("budget-scope-type").value === "workspace") renderWorkspaceChoices();
  }

  function budgetById(id) {
    return state.budgets.find((b) => b.id === id) || null;
  }

  function startEditing(id) {
    const budget = budgetById(id);
    if (!budget) return;
    state.editing = id;
    $("budget-form-title").textContent = `Edit the budget “${budget.name}”`;
    $("budget-save").textContent = "Save changes";
    $("budget-cancel").hidden = false;
    $("budget-name").value = budget.name;
    renderConnectionChoices();
    $("budget-connection").value = budget.connection_id;
    renderConnectionChoices(); // a connection no longer listed is kept as an option
    $("budget-scope-type").value = budget.scope.type;
    $("budget-scope-id").value = budget.scope.type === "workspace" ? "" : budget.scope.id || "";
    $("budget-monthly").value = budget.monthly_usd;
    $("budget-thresholds").value = budget.thresholds.join(", ");
    setStatus($("budget-form-status"), "");
    showScopeFields();
    if (budget.scope.type === "workspace") renderWorkspaceChoices(budget.scope.id || DEFAULT_WORKSPACE);
    $("budget-form").scrollIntoView({ block: "nearest" });
    $("budget-name").focus();
  }

  function stopEditing() {
    state.editing = null;
    $("budget-form").reset();
    $("budget-form-title").textContent = "New budget";
    $("budget-save").textContent = "Create budget";
    $("budget-cancel").hidden = true;
    renderConnectionChoices();
    showScopeFields();
  }

  /** The PUT body from the form, as typed: the API checks it and says what is wrong. */
  function formBody() {
    const type = $("budget-scope-type").value;
    let id = null;
    if (type === "workspace") {
      const chosen = $("budget-workspace").value;
      id = chosen === OTHER_WORKSPACE ? $("budget-scope-id").value.trim() : chosen;
      if (id === DEFAULT_WORKSPACE) id = null;
    } else if (type !== "organization") {
      id = $("budget-scope-id").value.trim();
    }
    const body = {
      name: $("budget-name").value,
      connection_id: $("budget-connection").value,
      scope: { type, id },
      monthly_usd: $("budget-monthly").value.trim().replace(/^\$/, "").replace(/,/g, ""),
    };
    const thresholds = $("budget-thresholds")
      .value.split(",")
      .map((part) => part.trim().replace(/%$/, ""))
      .filter(Boolean);
    if (thresholds.length) body.thresholds = thresholds.map((t) => (/^\d+$/.test(t) ? Number(t) : t));
    const editing = state.editing && budgetById(state.editing);
    if (editing) body.enforced = editing.enforced; // the form does not change it
    return body;
  }

  function newBudgetId() {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return `bdg_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  async function onSaveBudget(event) {
    event.preventDefault();
    const status = $("budget-form-status");
    const button = $("budget-save");
    const id = state.editing || newBudgetId();
    button.disabled = true;
    setStatus(status, state.editing ? "Saving the budget…" : "Creating the budget…");
    try {
      const budget = await api("PUT", `/budgets/${encodeURIComponent(id)}`, formBody());
      const index = state.budgets.findIndex((b) => b.id === budget.id);
      if (index >= 0) state.budgets[index] = budget;
      else state.budgets.push(budget);
      const created = !state.editing;
      stopEditing();
      renderBudgets();
      setStatus(status, `${created ? "Created" : "Saved"} the budget “${budget.name}”.`, "ok");
      refresh(); // after any load that started before the change
    } catch (error) {
      setStatus(status, error.message, "error");
    } finally {
      button.disabled = false;
      renderConnectionChoices();
    }
  }

  // ---------------------------------------------------------------- alerts

  function renderAlerts(body) {
    const alerts = [...(body.alerts || [])].sort((a, b) => (a.detected_at < b.detected_at ? 1 : -1)); // newest first
    $("alerts-range").textContent = body.from && body.to ? `Detected ${body.from} → ${body.to} (UTC days)` : "";
    $("alerts-empty").hidden = alerts.length > 0;
    $("alerts-table").hidden = !alerts.length;
    $("alerts-body").replaceChildren(...alerts.map(alertRow));
  }

  function alertRow(alert) {
    const kind = ALERT_KINDS[alert.kind] || alert.kind;
    const scope = alert.scope || {};
    return el(
      "tr",
      { "data-alert-id": alert.id, "data-kind": alert.kind },
      el("td", {}, el("time", { datetime: alert.detected_at, text: formatDateTime(alert.detected_at) })),
      el(
        "td",
        {},
        el("span", { className: `alert-kind kind-${alert.kind}`, text: kind }),
        alert.kind === "budget_threshold" && alert.threshold !== null ? ` (${alert.threshold}%)` : null,
      ),
      el("td", { className: "alert-scope" }, ...alertScope(scope)),
      el("td", { className: "num" }, money(alert.amount_usd)),
      el("td", { className: "alert-message", text: alert.message }),
    );
  }

  /** The scope's name, then its id (muted) when both are known. */
  function alertScope(scope) {
    const kind = SCOPE_TYPES[scope.type] || (scope.type === "budget" ? "Budget" : scope.type || "");
    const name = scope.name || (scope.type === "workspace" && !scope.id ? "Default workspace" : scope.id);
    if (scope.type === "organization" && !scope.name) return [kind];
    const parts = [el("span", { className: "scope-kind muted", text: `${kind}: ` }), name || "—"];
    if (scope.name && scope.id) parts.push(" ", el("span", { className: "muted", text: `(${scope.id})` }));
    return parts;
  }

  // ---------------------------------------------------------------- start-up

  function start() {
    $("budget-form").addEventListener("submit", onSaveBudget);
    $("budget-cancel").addEventListener("click", () => {
      stopEditing();
      setStatus($("budget-form-status"), "");
    });
    $("budget-scope-type").addEventListener("change", onScopeTypeChange);
    $("budget-workspace").addEventListener("change", showScopeFields);
    document.addEventListener("pump:refresh", () => refresh());
    let names = "";
    document.addEventListener("pump:connections", () => {
      renderConnectionChoices();
      const now = window.Pump.connections()
        .map((c) => `${c.id}=${(c.organization && c.organization.name) || ""}`)
        .join("|");
      if (now !== names && state.budgets.length) renderBudgets(); // the organizations' names, once known
      names = now;
    });
    renderConnectionChoices();
    showScopeFields();
  }

  start();
})();
