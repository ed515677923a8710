// Pump local dashboard, the finance views: today's spend by UTC hour (GET /costs grouped by hour), the rate card
// derived from the bill (GET /costs/rates), what prompt caching saved (GET /costs/savings) and a month's
// reconciliation with Anthropic (GET /costs/reconciliation, on request only: it reads Anthropic's API).
// It uses app.js's API client and helpers (`window.Pump`) and reloads when app.js refreshes the page (`pump:refresh`).
// Amounts stay the API's exact decimal strings (bar heights alone use floats); text from the customer's organization
// (model, workspace, key and organization names, explanations) is only ever set as text.
"use strict";

(() => {
  const {
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
    costTypeLabel,
    tokenTypeLabel,
    selectedRange,
    isoDay,
    formatDateTime,
  } = window.Pump;

  const $ = (id) => document.getElementById(id);

  // Reloads follow the spend view's (`pump:refresh`), which fires every few seconds while a backfill runs: a view
  // whose range is unchanged reloads at most this often (a year of rates costs 53 read units).
  const MIN_RELOAD_MS = 30000;
  const HOURLY_MIN_RELOAD_MS = 15000;
  const RATE_PLACES = 6; // rates per MTok are shown to this many decimals at most (the exact value in the title)
  const RECONCILE_STATUS = {
    matched: "Matched",
    explained: "Difference explained",
    unexplained: "Unexplained difference",
  };
  const CONNECTION_STATUS = {
    matched: "Matched",
    explained: "Explained",
    unexplained: "Unexplained",
  };
  const LINE_KINDS = {
    priority_tier_unpriced: "Priority tier without a price",
    provisional_days: "Provisional days",
    code_execution_missing: "Code execution missing",
  };
  const SAVINGS_BY = { model: "Model", workspace_id: "Workspace", api_key_id: "API key" };

  // ---------------------------------------------------------------- small helpers

  /** An exact decimal string rounded half-up to at most `places` decimals, at least `min`; BigInt, no float. */
  function roundDecimal(exact, places, min = 0) {
    const parsed = parseDecimal(exact);
    if (!parsed) return String(exact);
    let { value, scale } = parsed;
    const negative = value < 0n;
    if (negative) value = -value;
    if (scale > places) {
      const divisor = 10n ** BigInt(scale - places);
      const remainder = value % divisor;
      value /= divisor;
      if (remainder * 2n >= divisor) value += 1n;
      scale = places;
    }
    const digits = value.toString().padStart(scale + 1, "0");
    const whole = digits.slice(0, digits.length - scale);
    const fraction = (scale ? digits.slice(-scale) : "").replace(/0+$/, "").padEnd(min, "0");
    const zero = /^0*$/.test(whole + fraction);
    return `${negative && !zero ? "-" : ""}${groupThousands(whole)}${fraction ? `.${fraction}` : ""}`;
  }

  /** A rate per unit: "$3.00", "$0.075", "$0.123457" (6 decimals at most, the exact value in the title). */
  function rateText(exact) {
    const text = roundDecimal(exact, RATE_PLACES, 2);
    return text.startsWith("-") ? `-$${text.slice(1)}` : `$${text}`;
  }

  /** "—" for a figure the API does not know, with a title saying why (never a 0). */
  function unknown(why) {
    return el("span", { className: "unknown-value", text: "—", title: `Unknown: ${why}` });
  }

  function errorText(error) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
    return `${error.message}${wait}`;
  }

  /** A view's reload: folded into one more run when asked while one runs, skipped when fresh (same key). */
  function reloader(load, minInterval) {
    const self = { running: false, pending: null, key: null, at: 0, timer: null, seq: 0 };
    async function run(key, force) {
      if (self.running) {
        self.pending = { key, force: force || key !== self.key || (self.pending && self.pending.force) };
        return;
      }
      const wait = self.at + minInterval - Date.now();
      if (!force && key === self.key && wait > 0) {
        clearTimeout(self.timer);
        self.timer = setTimeout(() => run(key, false), wait);
        return;
      }
      clearTimeout(self.timer);
      self.running = true;
      self.key = key;
      self.at = Date.now();
      try {
        await load(++self.seq);
      } finally {
        self.running = false;
        if (self.pending) {
          const next = self.pending;
          self.pending = null;
          run(next.key, next.force);
        }
      }
    }
    self.run = run;
    return self;
  }

  async function wholeReport(path, query) {
    const report = await api("GET", `${path}?${query}`);
    let page = report;
    while (page.has_more && page.next_page) {
      const next = new URLSearchParams(query);
      next.set("page", page.next_page);
      page = await api("GET", `${path}?${next}`);
      report.rows = report.rows.concat(page.rows || []);
    }
    return report;
  }

  function rangeKey(range) {
    return `${range.from}/${range.to}`;
  }

  function showRange(node, range) {
    node.textContent = `${range.from} → ${range.to} (UTC days, as chosen under Spend)`;
    node.dataset.from = range.from;
    node.dataset.to = range.to;
  }

  // ---------------------------------------------------------------- today by hour (GET /costs?group_by=hour)

  const hourly = reloader(loadHourly, HOURLY_MIN_RELOAD_MS);

  async function loadHourly(seq) {
    const day = isoDay(new Date());
    const section = $("today");
    section.setAttribute("aria-busy", "true");
    try {
      const query = new URLSearchParams({ from: day, to: day, group_by: "hour", limit: "10000" });
      const report = await wholeReport("/costs", query);
      if (seq !== hourly.seq) return;
      setStatus($("hourly-status"), "");
      renderHourly(report, day);
    } catch (error) {
      if (seq !== hourly.seq) return;
      if (error.code === "no_hourly_data") {
        renderNoHourly(error, day);
      } else {
        setStatus($("hourly-status"), `Could not load today's hours: ${errorText(error)}`, "error");
      }
    } finally {
      section.removeAttribute("aria-busy");
    }
  }

  function renderNoHourly(error, day) {
    setStatus($("hourly-status"), "");
    $("hourly-empty").hidden = false;
    $("hourly-empty-text").textContent = error.message;
    $("hourly-chart").hidden = true;
    $("hourly-figures").hidden = true;
    const total = $("hourly-total");
    total.textContent = "—";
    total.dataset.exact = "";
    total.title = "Unknown: no hourly data yet";
    $("hourly-day").textContent = `${day} (UTC)`;
  }

  function renderHourly(report, day) {
    $("hourly-empty").hidden = true;
    $("hourly-chart").hidden = false;
    $("hourly-figures").hidden = false;
    const byHour = new Map();
    for (const row of report.rows || []) {
      const hour = String(row.hour || "").slice(0, 13); // "2026-12-07T13"
      if (!byHour.has(hour)) byHour.set(hour, []);
      byHour.get(hour).push(row);
    }
    const slots = [];
    for (let h = 0; h < 24; h += 1) {
      const hour = `${day}T${String(h).padStart(2, "0")}`;
      const rows = byHour.get(hour) || [];
      const known = rows.map((r) => r.cost_usd).filter((c) => c !== null && c !== undefined);
      const unknownCost = rows.length > 0 && known.length === 0;
      slots.push({ hour, h, cost: sumDecimals(known) ?? "0", unknownCost });
    }
    const totalExact = report.total ? report.total.cost_usd : sumDecimals(slots.map((s) => s.cost));
    const total = $("hourly-total");
    total.dataset.exact = totalExact ?? "";
    total.title = totalExact === null || totalExact === undefined ? "Cost unknown" : `${totalExact} USD (exact)`;
    total.textContent = totalExact === null || totalExact === undefined ? "Cost unknown" : formatUsd(totalExact);
    const now = new Date();
    const through = now.toISOString().slice(0, 10) === day ? ` · through ${String(now.getUTCHours()).padStart(2, "0")}:59` : "";
    $("hourly-day").textContent = `${day} (UTC)${through}`;
    drawHourly(slots, day);
    $("hourly-body").replaceChildren(
      ...slots.map((s) =>
        el(
          "tr",
          { "data-hour": s.hour },
          el("th", { scope: "row", text: `${String(s.h).padStart(2, "0")}:00` }),
          el("td", { className: "num" }, s.unknownCost ? money(null) : money(s.cost)),
        ),
      ),
    );
  }

  function drawHourly(slots, day) {
    const width = 900;
    const height = 220;
    const margin = { top: 12, right: 12, bottom: 30, left: 64 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const heights = slots.map((s) => Number(s.cost) || 0); // geometry only
    const max = niceCeiling(Math.max(0, ...heights));
    const y = (v) => margin.top + plotH - (v / max) * plotH;
    const slotW = plotW / slots.length;
    const barW = slotW * 0.75;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `Bar chart of spend per UTC hour on ${day}; the table under it lists the figures.`,
      className: "hourly-svg",
    });
    for (let i = 0; i <= 4; i += 1) {
      const value = (max / 4) * i;
      root.append(
        svg("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), className: "grid" }),
        svg("text", { x: margin.left - 8, y: y(value) + 4, className: "axis y" }, formatAxisUsd(value)),
      );
    }
    slots.forEach((slot, i) => {
      const slotX = margin.left + i * slotW;
      const top = y(heights[i]);
      const amount = slot.unknownCost ? "cost unknown" : heights[i] ? formatUsd(slot.cost) : "no spend";
      const label = `${String(slot.h).padStart(2, "0")}:00–${String(slot.h).padStart(2, "0")}:59 UTC: ${amount}`;
      root.append(
        svg(
          "g",
          { className: "hour-bar", "data-hour": slot.hour, "data-exact": slot.cost },
          svg("title", {}, label),
          svg("rect", {
            x: slotX + (slotW - barW) / 2,
            y: top,
            width: barW,
            height: Math.max(0, y(0) - top),
            className: "hour-fill",
          }),
          svg("rect", { x: slotX, y: margin.top, width: slotW, height: plotH, className: "hit" }),
        ),
      );
      if (slot.h % 3 === 0) {
        root.append(
          svg(
            "text",
            { x: slotX + slotW / 2, y: height - 10, className: "axis x" },
            `${String(slot.h).padStart(2, "0")}:00`,
          ),
        );
      }
    });
    root.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0), className: "baseline" }));
    $("hourly-svg").replaceChildren(root);
  }

  // ---------------------------------------------------------------- rates (GET /costs/rates)

  const rates = reloader(loadRates, MIN_RELOAD_MS);

  async function loadRates(seq) {
    const range = selectedRange();
    showRange($("rates-range"), range);
    $("rates").setAttribute("aria-busy", "true");
    try {
      const card = await api("GET", `/costs/rates?${new URLSearchParams({ from: range.from, to: range.to })}`);
      if (seq !== rates.seq) return;
      setStatus($("rates-status"), "");
      renderRates(card);
    } catch (error) {
      if (seq === rates.seq) setStatus($("rates-status"), `Could not load the rates: ${errorText(error)}`, "error");
    } finally {
      $("rates").removeAttribute("aria-busy");
    }
  }

  function renderRates(card) {
    const rows = card.rows || [];
    $("rates-empty").hidden = rows.length > 0;
    $("rates-table").hidden = rows.length === 0;
    $("rates-body").replaceChildren(...rows.map(rateRow));
  }

  function lineLabel(row) {
    if (row.cost_type === "tokens" && row.token_type) return tokenTypeLabel(row.token_type);
    return costTypeLabel(row.cost_type);
  }

  function priceClass(row) {
    const parts = [row.service_tier, row.context_window, row.inference_geo];
    if (row.speed && row.speed !== "standard") parts.push(`${row.speed} speed`);
    return parts.filter(Boolean).join(" · ") || "—";
  }

  /** Why a rate is not known, in the API's terms (rate_status). */
  function noRateReason(row) {
    switch (row.rate_status) {
      case "no_usage":
        return "Anthropic reports this cost without usage, so it has no price per unit.";
      case "cost_unknown":
        return "Anthropic reports this usage without a cost (priority tier), so its price is unknown.";
      default:
        return "the API gives no rate for this line.";
    }
  }

  function perText(row) {
    return row.per === "request" ? " / request" : "";
  }

  function rateCell(row, exact, rounded, what, noneWhy) {
    const per = row.per || "unit";
    if (exact !== null && exact !== undefined) {
      return el("span", {
        className: "rate",
        text: rateText(exact) + perText(row),
        title: `${exact} USD per ${per} (exact ${what})`,
        "data-exact": exact,
      });
    }
    if (rounded !== null && rounded !== undefined) {
      return el("span", {
        className: "rate approx",
        text: `≈ ${rateText(rounded)}${perText(row)}`,
        title:
          `About ${rounded} USD per ${per}: the ${what} is no exact decimal (Anthropic rounded the amount, or the ` +
          "line blends prices), so it is shown rounded.",
      });
    }
    return unknown(noneWhy);
  }

  function rateRow(row) {
    const listWhy =
      row.rate_status === "no_usage" || row.rate_status === "cost_unknown"
        ? noRateReason(row)
        : "no list price (days read from Anthropic's legacy cost report have none).";
    const discount =
      row.discount_pct === null || row.discount_pct === undefined
        ? unknown("no list price to compare with (days read from Anthropic's legacy cost report have none).")
        : el("span", { text: `${roundDecimal(row.discount_pct, 2)}%`, title: `${row.discount_pct}% (exact)` });
    const model = dimensionLabel("model", row);
    return el(
      "tr",
      {
        className: row.rate_changed ? "rate-changed" : null,
        "data-model": row.model ?? "",
        "data-token-type": row.token_type ?? "",
        "data-rate-status": row.rate_status,
      },
      el("th", { scope: "row", text: model, title: (row.model_ids || []).join(", ") || null }),
      el(
        "td",
        { className: "line" },
        lineLabel(row),
        row.rate_changed
          ? el("span", {
              className: "badge rate-changed-badge",
              text: "rate changed",
              title: "This line's rate changed in the range: each rate is its own row, with its dates.",
            })
          : null,
      ),
      el("td", { className: "price-class", text: priceClass(row) }),
      el("td", { className: "num net" }, rateCell(row, row.net_usd_per_unit, row.net_usd_per_unit_rounded, "net rate", noRateReason(row))),
      el("td", { className: "num list" }, rateCell(row, row.list_usd_per_unit, row.list_usd_per_unit_rounded, "list price", listWhy)),
      el("td", { className: "num discount" }, discount),
      el("td", { className: "num" }, money(row.cost_usd)),
      el(
        "td",
        { className: "seen", title: `${row.days} day${row.days === 1 ? "" : "s"} with this rate` },
        el("time", { className: "first-seen", datetime: row.first_seen, text: row.first_seen }),
        " → ",
        el("time", { className: "last-seen", datetime: row.last_seen, text: row.last_seen }),
      ),
    );
  }

  // ---------------------------------------------------------------- cache savings (GET /costs/savings)

  const savings = reloader(loadSavings, MIN_RELOAD_MS);

  function savingsBy() {
    return document.querySelector('input[name="savings-by"]:checked').value;
  }

  async function loadSavings(seq) {
    const range = selectedRange();
    const by = savingsBy();
    showRange($("savings-range"), range);
    $("savings").setAttribute("aria-busy", "true");
    try {
      const query = new URLSearchParams({ from: range.from, to: range.to, group_by: by });
      const body = await api("GET", `/costs/savings?${query}`);
      if (seq !== savings.seq) return;
      setStatus($("savings-status"), "");
      $("savings-refused").hidden = true;
      renderSavings(body, by);
    } catch (error) {
      if (seq !== savings.seq) return;
      if (error.status === 400 && error.code === "invalid_query") {
        // A grouping the API refuses (by API key: its analytics lines carry no tokens): its sentence, no table.
        setStatus($("savings-status"), "");
        const refused = $("savings-refused");
        refused.hidden = false;
        refused.textContent = `Not available ${by === "api_key_id" ? "by API key" : "for this grouping"}: ${error.message}`;
        $("savings-table").hidden = true;
        $("savings-empty").hidden = true;
        $("savings-notes").textContent = "";
      } else {
        setStatus($("savings-status"), `Could not load the savings: ${errorText(error)}`, "error");
      }
    } finally {
      $("savings").removeAttribute("aria-busy");
    }
  }

  function renderSavings(body, by) {
    const rows = body.rows || [];
    const total = body.total || {};
    const amount = $("savings-total");
    amount.replaceChildren(money(total.net_savings_usd ?? "0"));
    amount.dataset.exact = total.net_savings_usd ?? "";
    $("savings-total-detail").textContent =
      `${formatUsd(total.read_savings_usd ?? "0")} saved on ${formatInt(total.savings_known_tokens)} cache-read ` +
      `tokens, less ${formatUsd(sumDecimals([total.cache_write_5m_premium_usd, total.cache_write_1h_premium_usd]) ?? "0")} ` +
      "of cache-write premium.";

    $("savings-empty").hidden = rows.length > 0;
    $("savings-table").hidden = rows.length === 0;
    const num = (text, title) => el("th", { scope: "col", className: "num", text, title });
    $("savings-head").replaceChildren(
      el("th", { scope: "col", text: SAVINGS_BY[by] || by }),
      num("Cache reads (tokens)"),
      num("Saved on reads (USD)", "What the priced reads would have cost as plain input, less what they cost"),
      num("5-min write premium"),
      num("1-hour write premium"),
      num("Net savings (USD)"),
      el("th", { scope: "col", text: "Flags" }),
    );
    $("savings-body").replaceChildren(...rows.map((row) => savingsRow(row, by)));
    $("savings-foot").replaceChildren(savingsRow(total, null));

    const notes = [];
    const unpriced =
      (total.unpriced_cache_read_tokens || 0) +
      (total.unpriced_cache_write_5m_tokens || 0) +
      (total.unpriced_cache_write_1h_tokens || 0);
    if (unpriced) {
      notes.push(
        `${formatInt(unpriced)} cache tokens fell on days with no plain-input rate to price them: counted, not priced.`,
      );
    }
    if (total.savings_exact === false) notes.push("Some parts are rounded to 10⁻¹² USD (a repeating input rate).");
    $("savings-notes").textContent = notes.join(" ");
  }

  function savingsRow(row, by) {
    const flagged = row.one_hour_cache_loses_money || row.cache_loses_money;
    const badges = [];
    if (row.one_hour_cache_loses_money) {
      badges.push(
        el("span", {
          className: "badge loss-badge one-hour-loss",
          text: "1-hour cache loses money",
          title: "The 1-hour cache writes cost more above plain input than the cache reads saved.",
        }),
      );
    }
    if (row.cache_loses_money) {
      badges.push(
        el("span", {
          className: "badge loss-badge net-loss",
          text: "Net loss",
          title: "The cache writes' premium exceeds what the reads saved: caching cost money here.",
        }),
      );
    }
    const label = by === null ? "Total" : dimensionLabel(by, row);
    const head = el("th", { scope: "row", text: label, title: by && row[by] ? row[by] : null });
    return el(
      "tr",
      {
        className: flagged ? "cache-loses-money" : null,
        "data-key": by === null ? "__total__" : String(row[by] ?? ""),
      },
      head,
      el("td", { className: "num", text: formatTokens(row.cache_read_tokens) }),
      el("td", { className: "num" }, money(row.read_savings_usd)),
      el("td", { className: "num" }, money(row.cache_write_5m_premium_usd)),
      el("td", { className: "num" }, money(row.cache_write_1h_premium_usd)),
      el("td", { className: "num net-savings" }, money(row.net_savings_usd)),
      el("td", { className: "flags" }, ...badges),
    );
  }

  // ---------------------------------------------------------------- reconciliation (GET /costs/reconciliation)

  let reconcileSeq = 0;

  /** The last complete UTC month, "YYYY-MM". */
  function lastCompleteMonth(now = new Date()) {
    const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    first.setUTCMonth(first.getUTCMonth() - 1);
    return first.toISOString().slice(0, 7);
  }

  function renderReconcileConnections() {
    const select = $("reconcile-connection");
    const chosen = select.value;
    const options = [
      el("option", { value: "", text: "All organizations" }),
      ...window.Pump.connections().map((c) =>
        el("option", { value: c.id, text: (c.organization && c.organization.name) || c.id }),
      ),
    ];
    const signature = options.map((o) => `${o.value}=${o.textContent}`).join("|");
    if (select.dataset.signature === signature) return;
    select.dataset.signature = signature;
    select.replaceChildren(...options);
    if (options.some((o) => o.value === chosen)) select.value = chosen;
  }

  async function onReconcile(event) {
    event.preventDefault();
    const month = $("reconcile-month").value;
    const status = $("reconcile-status");
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) {
      setStatus(status, "Choose a month first.", "error");
      $("reconcile-month").focus();
      return;
    }
    const query = new URLSearchParams({ month });
    const connection = $("reconcile-connection").value;
    if (connection) query.set("connection_id", connection);
    const seq = ++reconcileSeq;
    const button = $("reconcile-button");
    button.disabled = true;
    $("reconciliation").setAttribute("aria-busy", "true");
    setStatus(status, `Reconciling ${month} with Anthropic…`);
    try {
      const body = await api("GET", `/costs/reconciliation?${query}`);
      if (seq !== reconcileSeq) return;
      setStatus(status, "");
      renderReconciliation(body);
    } catch (error) {
      if (seq !== reconcileSeq) return;
      $("reconcile-result").hidden = true;
      setStatus(status, `Could not reconcile ${month}: ${errorText(error)}`, "error");
    } finally {
      if (seq === reconcileSeq) {
        button.disabled = false;
        $("reconciliation").removeAttribute("aria-busy");
      }
    }
  }

  function statusBadge(node, status, words) {
    node.textContent = words[status] || status;
    node.className = `badge reconcile-${status}`;
    node.dataset.status = status;
  }

  function renderReconciliation(body) {
    $("reconcile-result").hidden = false;
    const names = new Map((body.connections || []).map((c) => [c.connection_id, c.organization_name]));
    const scope = body.connection_id ? names.get(body.connection_id) || body.connection_id : "all organizations";
    $("reconcile-heading").textContent = `${body.month} · ${scope}`;
    statusBadge($("reconcile-badge"), body.status, RECONCILE_STATUS);
    $("reconcile-read-at").replaceChildren(
      "Anthropic's figures read ",
      el("time", { datetime: body.read_at, text: formatDateTime(body.read_at) }),
      ".",
    );
    for (const [id, field] of [
      ["reconcile-stored", "stored_usd"],
      ["reconcile-anthropic", "anthropic_usd"],
      ["reconcile-difference", "difference_usd"],
      ["reconcile-explained", "explained_usd"],
      ["reconcile-unexplained", "unexplained_usd"],
    ]) {
      $(id).replaceChildren(money(body[field]));
    }
    $("reconcile-notes").replaceChildren(...(body.notes || []).map((text) => el("li", { text })));
    const lines = body.lines || [];
    $("reconcile-lines-empty").hidden = lines.length > 0;
    $("reconcile-lines").hidden = lines.length === 0;
    $("reconcile-lines-body").replaceChildren(...lines.map((line) => lineRow(line, names)));
    $("reconcile-connections-body").replaceChildren(...(body.connections || []).map(connectionRow));
  }

  function lineAmount(line) {
    if (line.amount_usd !== null && line.amount_usd !== undefined) return money(line.amount_usd);
    if (line.tokens !== null && line.tokens !== undefined) {
      return el("span", { className: "tokens", text: `${formatInt(line.tokens)} tokens`, title: "Tokens without a cost" });
    }
    return unknown("no amount or token count for this line.");
  }

  function lineRow(line, names) {
    const days = line.from === line.to ? line.from : `${line.from} → ${line.to}`;
    return el(
      "tr",
      { "data-kind": line.kind },
      el("th", { scope: "row", text: LINE_KINDS[line.kind] || line.kind }),
      el("td", { className: "org-name", text: names.get(line.connection_id) || line.connection_id || "—" }),
      el("td", { text: days }),
      el("td", { className: "line-description", text: line.description }),
      el("td", { className: "num line-amount" }, lineAmount(line)),
    );
  }

  function connectionRow(connection) {
    const badge = el("span");
    statusBadge(badge, connection.status, CONNECTION_STATUS);
    const sources = (connection.sources || []).map((s) => `${s.source}: ${s.from} → ${s.to}`).join("; ");
    return el(
      "tr",
      { "data-connection-id": connection.connection_id },
      el("th", {
        scope: "row",
        className: "org-name",
        text: connection.organization_name || connection.connection_id,
        title: connection.connection_id,
      }),
      el("td", {}, badge),
      el("td", { className: "num" }, money(connection.stored_usd)),
      el("td", { className: "num" }, money(connection.anthropic_usd)),
      el("td", { className: "num" }, money(connection.difference_usd)),
      el("td", { className: "num" }, money(connection.unexplained_usd)),
      el("td", { className: "sources-cell", text: sources || "—" }),
    );
  }

  // ---------------------------------------------------------------- start-up

  // A view loads once it is first scrolled into view, then follows the page's refreshes: a view nobody looked at
  // costs no read quota (a year of rates or savings is 53 units of the tenant's 600 a minute).
  const shown = new Set();

  function refreshView(id) {
    if (!shown.has(id)) return;
    const key = rangeKey(selectedRange());
    if (id === "rates") rates.run(key, false);
    else if (id === "savings") savings.run(`${key}/${savingsBy()}`, false);
    else if (id === "today") hourly.run(isoDay(new Date()), false);
  }

  function refreshAll() {
    for (const id of shown) refreshView(id);
  }

  function loadWhenShown(id) {
    const show = () => {
      shown.add(id);
      refreshView(id);
    };
    if (!("IntersectionObserver" in window)) {
      show();
      return;
    }
    const observer = new IntersectionObserver((entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      observer.disconnect();
      show();
    });
    observer.observe($(id));
  }

  function start() {
    const month = $("reconcile-month");
    month.value = lastCompleteMonth();
    month.max = new Date().toISOString().slice(0, 7);
    $("reconcile-form").addEventListener("submit", onReconcile);
    $("savings-picker").addEventListener("change", () => {
      shown.add("savings");
      savings.run(`${rangeKey(selectedRange())}/${savingsBy()}`, true);
    });
    // After app.js's start (deferred scripts run in order): the first views load with the page's first refresh.
    document.addEventListener("pump:refresh", refreshAll);
    for (const id of ["today", "rates", "savings"]) loadWhenShown(id);
    document.addEventListener("pump:connections", renderReconcileConnections);
    renderReconcileConnections();
  }

  start();
})();
