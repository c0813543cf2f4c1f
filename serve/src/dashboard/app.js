// The clickstream dashboard: listens to /api/stream (server-sent events)
// and redraws the panel of every view that changed. No library, no build.
// Data from the logs (categories, hosts, clients) is only ever inserted as
// text (textContent / attributes), never parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const HOUR = 3600 * 1000;

function el(tag, attrs, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const hhmm = (iso) => iso.slice(11, 16);
const dayHour = (iso) => iso.slice(5, 10) + " " + iso.slice(11, 13) + "h";

// Counts redraws per panel, so people and tests can see updates arrive.
function bump(panel) {
  const p = $(panel);
  p.dataset.updates = String(Number(p.dataset.updates || 0) + 1);
}

// ----------------------------------------------------------------- traffic
function renderTraffic(t) {
  const svg = $("traffic-chart");
  svg.replaceChildren();
  const W = 960, H = 240, left = 48, right = 8, top = 10, bottom = 24;
  const from = Date.parse(t.from + "T00:00:00Z");
  const slots = Math.max(1, Math.round((Date.parse(t.to + "T00:00:00Z") - from) / HOUR) + 24);
  const max = Math.max(1, ...t.rows.map((r) => r.requests));
  const plotW = W - left - right, plotH = H - top - bottom, slotW = plotW / slots;
  for (const f of [0, 0.5, 1]) {
    const y = top + plotH * (1 - f);
    svg.append(el("svg:line", { x1: left, x2: W - right, y1: y, y2: y }));
    svg.append(el("svg:text", { x: left - 6, y: y + 4, "text-anchor": "end" }, fmt(Math.round(max * f))));
  }
  for (let s = 0; s < slots; s += 6) {
    const iso = new Date(from + s * HOUR).toISOString();
    svg.append(el("svg:text", { x: left + s * slotW, y: H - 6 }, s % 24 === 0 ? iso.slice(5, 10) : iso.slice(11, 13) + "h"));
  }
  let total = 0;
  for (const r of t.rows) {
    const slot = Math.round((Date.parse(r.start) - from) / HOUR);
    if (slot < 0 || slot >= slots) continue;
    total += r.requests;
    const h = (plotH * r.requests) / max;
    const bar = el("svg:rect", {
      class: "bar " + r.source,
      x: (left + slot * slotW + 0.5).toFixed(1),
      y: (top + plotH - h).toFixed(1),
      width: Math.max(1, slotW - 1).toFixed(1),
      height: h.toFixed(1),
      "data-start": r.start,
      "data-requests": r.requests,
      "data-source": r.source,
      "data-visitors": r.visitors === null ? "" : r.visitors,
    });
    // Speed hours' visitors are a HyperLogLog estimate (about 1.6 % standard error).
    const visitors = r.visitors === null
      ? "visitors unknown"
      : r.visitors_exact ? fmt(r.visitors) + " visitors" : `≈${fmt(r.visitors)} visitors (estimate, ±1.6 %)`;
    bar.append(el("svg:title", {}, `${dayHour(r.start)}: ${fmt(r.requests)} requests, ${visitors} (${r.source})`));
    svg.append(bar);
  }
  $("traffic-range").textContent = t.from === t.to ? t.from : `${t.from} … ${t.to}`;
  $("traffic-total").textContent = ` — ${fmt(total)} requests`;
  bump("traffic-panel");
}

// -------------------------------------------------------------- popularity
function renderPopularity(p) {
  const list = $("top-categories");
  list.replaceChildren();
  const cur = p.current;
  $("popularity-empty").hidden = !!(cur && cur.categories.length);
  $("popularity-window").textContent = cur ? `${p.window} window ${hhmm(cur.window_start)}–${hhmm(cur.window_end)}${cur.final ? "" : " (open)"}` : "";
  if (cur) {
    const max = Math.max(1, ...cur.categories.map((c) => c.requests));
    for (const c of cur.categories) {
      const bar = el("span", { class: "bar" });
      bar.style.width = ((100 * c.requests) / max).toFixed(1) + "%";
      list.append(
        el("li", { "data-category": c.category, "data-requests": c.requests },
          el("span", { class: "rank" }, c.rank), el("span", { class: "name", title: c.category }, c.category),
          el("span", { class: "track" }, bar), el("span", { class: "n" }, fmt(c.requests))),
      );
    }
  }
  bump("popularity-panel");
}

// ------------------------------------------------------------------ alerts
let seenAlerts = null;
function alertKey(a) {
  return [a.kind, a.window_start, a.kind === "ddos" ? a.client : a.host].join("|");
}
function renderAlerts(d) {
  const list = $("alerts");
  list.replaceChildren();
  const keys = new Set();
  for (const a of d.alerts) {
    const key = alertKey(a);
    keys.add(key);
    const what = a.kind === "ddos"
      ? `${a.client}: ${fmt(a.requests)} requests in 1 s on ${a.hosts.join(", ")}`
      : `${a.host}: ${fmt(a.non_200)} of ${fmt(a.requests)} responses not 200`;
    const li = el("li", { "data-kind": a.kind, "data-key": key },
      el("span", { class: "kind " + a.kind }, a.kind), el("span", { class: "when" }, a.window_start.slice(0, 19).replace("T", " ")), el("span", {}, what));
    if (seenAlerts && !seenAlerts.has(key)) li.classList.add("new");
    list.append(li);
  }
  seenAlerts = keys;
  $("alerts-empty").hidden = d.alerts.length > 0;
  $("alerts-count").textContent = `${d.alerts.length}${d.truncated ? "+" : ""} since ${d.from}`;
  bump("alerts-panel");
}

// ----------------------------------------------------------------- servers
function sparkline(windows) {
  const svg = el("svg:svg", { class: "spark", viewBox: "0 0 180 24", preserveAspectRatio: "none" });
  const ws = windows.slice().reverse();
  const max = Math.max(1, ...ws.map((w) => w.requests));
  const bw = 180 / 30;
  ws.forEach((w, i) => {
    const h = Math.max(1, (22 * w.requests) / max);
    svg.append(el("svg:rect", { class: w.unhealthy ? "bad" : "", x: (i * bw).toFixed(1), y: (24 - h).toFixed(1), width: (bw - 1).toFixed(1), height: h.toFixed(1) }));
  });
  return svg;
}
function renderServers(d) {
  const body = $("servers").tBodies[0];
  body.replaceChildren();
  for (const s of d.servers) {
    const w = s.windows[0];
    if (!w) continue;
    const state = w.unhealthy ? "unhealthy" : "healthy";
    const st = w.status;
    body.append(
      el("tr", { "data-host": s.host, "data-state": state, "data-requests": w.requests },
        el("td", {}, s.host), el("td", {}, el("span", { class: "badge " + state }, state)),
        el("td", { class: "num" }, `${hhmm(w.window_start)}–${hhmm(w.window_end)}`),
        el("td", { class: "num" }, fmt(w.requests)), el("td", { class: "num" }, fmt(w.non_200)),
        el("td", { class: "num" }, [st["2xx"], st["3xx"], st["4xx"], st["5xx"]].map(fmt).join(" / ")),
        el("td", {}, sparkline(s.windows))),
    );
  }
  $("servers-empty").hidden = body.rows.length > 0;
  $("servers-day").textContent = d.day;
  bump("servers-panel");
}

// ------------------------------------------------------------- batch day
// The newest day the batch layer computed: per web server and per category
// (requests, exact visitors, failure share) and its most requested paths.
const pct = (share) => (share === null || share === undefined ? "–" : (100 * share).toFixed(1) + " %");
function fillRows(table, rows, cells) {
  const body = $(table).tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const [attrs, ...tds] = cells(r);
    body.append(el("tr", attrs, ...tds));
  }
}
function renderBatch(b) {
  $("batch-empty").hidden = !!b.day;
  $("batch-day").textContent = b.day ? `${b.day} (exact)` : "";
  for (const [table, d] of [["batch-servers", b.servers], ["batch-categories", b.categories]]) {
    fillRows(table, d ? d.rows.slice(0, 10) : [], (r) => [
      { "data-value": r.value, "data-requests": r.requests, "data-visitors": r.unique_visitors, "data-failure": r.failure_share ?? "" },
      el("td", { class: "name", title: r.value }, r.value), el("td", { class: "num" }, fmt(r.requests)),
      el("td", { class: "num" }, fmt(r.unique_visitors)), el("td", { class: "num" }, pct(r.failure_share)),
    ]);
  }
  fillRows("batch-paths", b.top_paths ? b.top_paths.paths : [], (p) => [
    { "data-path": p.path, "data-requests": p.requests, "data-failure": p.failure_share ?? "" },
    el("td", { class: "num" }, p.rank), el("td", { class: "name", title: p.path }, p.path),
    el("td", { class: "num" }, fmt(p.requests)), el("td", { class: "num" }, pct(p.failure_share)),
  ]);
  bump("batch-panel");
}

// ------------------------------------------------------------------ status
function renderStatus(s) {
  $("event-now").textContent = s.event_now.slice(0, 19).replace("T", " ") + " UTC";
  const errs = Object.entries(s.errors).map(([view, msg]) => `${view}: ${msg}`);
  $("errors").hidden = errs.length === 0;
  $("errors").textContent = errs.join(" · ");
}

function setConnection(state, text) {
  const c = $("connection");
  c.className = "state " + state;
  c.dataset.state = state;
  c.textContent = text;
}

const RENDER = { traffic: renderTraffic, popularity: renderPopularity, alerts: renderAlerts, servers: renderServers, batch: renderBatch, status: renderStatus };

function connect() {
  const es = new EventSource("/api/stream");
  es.onopen = () => setConnection("live", "live");
  // EventSource reconnects by itself; say so meanwhile.
  es.onerror = () => setConnection("down", "reconnecting…");
  for (const [name, render] of Object.entries(RENDER)) {
    es.addEventListener(name, (ev) => {
      try {
        render(JSON.parse(ev.data));
      } catch (e) {
        console.error("rendering", name, e);
      }
    });
  }
}

connect();
