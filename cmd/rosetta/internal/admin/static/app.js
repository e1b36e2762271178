// Rosetta dashboard: polls the admin API every second and renders the
// overview, a queue page (#/queue/NAME) and a connection page (#/conn/ID).
// Plain JavaScript, no dependencies, so that it works offline.
"use strict";

const API = "/api/v1";
const POLL_MS = 1000;
const COLORS = { mqtt: "#2f6fde", stomp: "#e07b00", amqp: "#1e9e5a", http: "#8e44ad" };
const PROTOCOLS = ["mqtt", "stomp", "amqp", "http"];

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, opts);
  const text = await r.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { data = { error: text, status: r.status }; } }
  if (!r.ok) {
    const err = new Error((data && data.error) || r.statusText);
    err.status = r.status;
    throw err;
  }
  return data;
}

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function link(href, text) {
  const a = el("a", text);
  a.href = href;
  return a;
}

function fmtBytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fmtRate(r) { return r >= 100 ? r.toFixed(0) : r.toFixed(1); }

function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}

function fillRows(tbody, rows, cols, empty) {
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = el("tr");
    const td = el("td", empty, "empty");
    td.colSpan = cols;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const cells of rows) {
    const tr = el("tr");
    for (const c of cells) {
      const td = el("td");
      if (c instanceof Node) td.append(c);
      else if (typeof c === "number") { td.textContent = String(c); td.className = "num"; }
      else td.textContent = c == null ? "" : String(c);
      tr.append(td);
    }
    tbody.append(tr);
  }
}

function setStatus(ok, text) {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + (ok ? "ok" : "err");
}

// --- chart: one polyline per protocol, hand-drawn SVG.
const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}

function drawChart(history) {
  const c = $("chart");
  const W = 800, H = 200, L = 40, B = 18;
  c.replaceChildren();
  const pts = history.slice(-120);
  let max = 1;
  for (const p of pts) for (const k of PROTOCOLS) max = Math.max(max, (p.rates[k] || {}).in || 0);
  max = niceMax(max);
  for (let i = 0; i <= 4; i++) {
    const y = (H - B) - i * (H - B - 6) / 4;
    c.append(svg("line", { x1: L, x2: W, y1: y, y2: y, class: "grid" }));
    const t = svg("text", { x: 2, y: y + 4, class: "axis" });
    t.textContent = fmtRate(max * i / 4);
    c.append(t);
  }
  const tl = svg("text", { x: L, y: H - 3, class: "axis" });
  tl.textContent = pts.length ? pts.length + "s ago" : "";
  const tr = svg("text", { x: W - 30, y: H - 3, class: "axis" });
  tr.textContent = "now";
  c.append(tl, tr);
  if (pts.length < 2) return;
  const dx = (W - L) / (pts.length - 1);
  for (const k of PROTOCOLS) {
    const coords = pts.map((p, i) => {
      const v = (p.rates[k] || {}).in || 0;
      return (L + i * dx).toFixed(1) + "," + ((H - B) - v / max * (H - B - 6)).toFixed(1);
    });
    c.append(svg("polyline", { points: coords.join(" "), fill: "none", stroke: COLORS[k], "stroke-width": 2, "data-protocol": k }));
  }
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawLegend(rates) {
  const lg = $("legend");
  lg.replaceChildren();
  for (const k of PROTOCOLS) {
    const s = el("span");
    const i = el("i");
    i.style.background = COLORS[k];
    s.append(i, document.createTextNode(k + " " + fmtRate((rates[k] || {}).in || 0) + "/s in, " + fmtRate((rates[k] || {}).out || 0) + "/s out"));
    lg.append(s);
  }
}

// --- pages
async function renderOverview() {
  const [o, cs, qs] = await Promise.all([api("GET", "/overview"), api("GET", "/connections"), api("GET", "/queues")]);
  $("version").textContent = "v" + o.version;
  $("uptime").textContent = "up " + fmtDuration(o.uptime_seconds);
  $("c-conns").textContent = o.connections.total;
  $("c-conns-by").textContent = ["mqtt", "stomp", "amqp"].map((p) => p + " " + (o.connections[p] || 0)).join(" · ");
  $("c-in").textContent = fmtRate(o.rates.total.in);
  $("c-out").textContent = fmtRate(o.rates.total.out);
  $("c-queues").textContent = o.queues;
  $("c-ready").textContent = o.ready + " messages waiting";
  $("c-mem").textContent = fmtBytes(o.memory.rss_bytes || o.memory.total_bytes);
  $("c-heap").textContent = "heap " + fmtBytes(o.memory.heap_bytes) + " · " + o.memory.goroutines + " goroutines";
  $("c-store").textContent = o.store.size_bytes ? fmtBytes(o.store.size_bytes) : "–";
  $("c-engine").textContent = o.store.engine || "";
  drawChart(o.history || []);
  drawLegend(o.rates);
  fillRows($("conns").tBodies[0], cs.map((c) => [c.protocol, link("#/conn/" + encodeURIComponent(c.id), c.id), c.client_id,
    c.user || "(anonymous)", c.remote, new Date(c.connected_at).toLocaleTimeString(), c.messages_in, c.messages_out]), 8, "no connections");
  fillRows($("queues").tBodies[0], qs.map((q) => [link("#/queue/" + encodeURIComponent(q.name), q.name), q.ready, q.unsettled,
    fmtBytes(q.bytes), q.consumers, fmtRate(q.rate.in), fmtRate(q.rate.out), q.dead_letter_queue || "(dropped)"]), 8, "no queues");
  for (const tr of $("queues").tBodies[0].rows) tr.dataset.queue = tr.cells[0].textContent;
  for (const tr of $("conns").tBodies[0].rows) if (tr.cells.length > 2) tr.dataset.client = tr.cells[2].textContent;
}

function props(table, pairs) {
  fillRows(table.tBodies[0], pairs.map(([k, v]) => [k, v]), 2, "");
  for (const tr of table.tBodies[0].rows) {
    const th = el("th", tr.cells[0].textContent);
    tr.replaceChild(th, tr.cells[0]);
  }
}

async function renderQueue(name) {
  const q = await api("GET", "/queues/" + encodeURIComponent(name));
  $("q-name").textContent = q.name;
  props($("q-props"), [["Depth (ready)", q.ready], ["Unsettled", q.unsettled], ["Bytes", fmtBytes(q.bytes)], ["Consumers", q.consumers],
    ["Durable", q.durable], ["Bindings", q.bindings.join(", ") || "(none)"], ["Rate in/out", fmtRate(q.rate.in) + " / " + fmtRate(q.rate.out) + " per s"],
    ["Enqueued / delivered / acked", q.enqueued + " / " + q.delivered + " / " + q.acked], ["Dropped / expired", q.dropped + " / " + q.expired],
    ["Max length / bytes", q.max_length + " / " + fmtBytes(q.max_bytes)], ["Overflow", q.overflow], ["Dead letters to", q.dead_letter_queue || "(dropped)"]]);
  fillRows($("q-consumers").tBodies[0], q.consumer_list.map((c) => [c.id, c.protocol, link("#/conn/" + encodeURIComponent(c.conn_id), c.conn_id),
    c.client_id, c.credit, c.unsettled]), 6, "no consumers");
}

async function peekQueue(name) {
  const ms = await api("GET", "/queues/" + encodeURIComponent(name) + "/messages?count=50");
  fillRows($("q-messages").tBodies[0], ms.map((m) => {
    const body = el("span", m.body_encoding === "base64" ? "base64:" + m.body : m.body);
    const td = el("span");
    td.append(body);
    return [m.seq, m.address, td, m.priority, m.delivery_count,
      m.dead_letter ? m.dead_letter.reason + " from " + m.dead_letter.queue + " (" + m.dead_letter.address + ")" : ""];
  }), 6, "no ready messages");
  for (const tr of $("q-messages").tBodies[0].rows) if (tr.cells[2]) tr.cells[2].className = "body";
}

async function renderConn(id) {
  const c = await api("GET", "/connections/" + encodeURIComponent(id));
  $("k-id").textContent = c.id;
  props($("k-props"), [["Protocol", c.protocol], ["Client ID", c.client_id], ["User", c.user || "(anonymous)"], ["Remote", c.remote],
    ["Transport", c.transport || ""], ["Connected at", new Date(c.connected_at).toLocaleString()], ["Messages in", c.messages_in], ["Messages out", c.messages_out]]);
  fillRows($("k-consumers").tBodies[0], c.consumers.map((k) => [link("#/queue/" + encodeURIComponent(k.queue), k.queue),
    k.bindings.join(", "), k.credit, k.unsettled]), 4, "no consumers");
}

// --- router and polling
let route = { page: "overview" };
let timer = null;

function parseRoute() {
  const h = location.hash.replace(/^#\/?/, "");
  const [kind, ...rest] = h.split("/");
  const arg = decodeURIComponent(rest.join("/"));
  if (kind === "queue" && arg) return { page: "queue", arg };
  if (kind === "conn" && arg) return { page: "conn", arg };
  return { page: "overview" };
}

function show(page) {
  for (const s of document.querySelectorAll(".page")) s.hidden = s.id !== "page-" + page;
}

async function tick() {
  try {
    if (route.page === "queue") await renderQueue(route.arg);
    else if (route.page === "conn") await renderConn(route.arg);
    else await renderOverview();
    setStatus(true, "live");
  } catch (e) {
    setStatus(false, e.status === 404 ? "not found: " + e.message : "error: " + e.message);
  }
}

function navigate() {
  route = parseRoute();
  show(route.page);
  if (route.page === "queue") { $("q-messages").tBodies[0].replaceChildren(); $("q-result").textContent = ""; peekQueue(route.arg).catch(() => {}); }
  if (route.page === "conn") $("k-result").textContent = "";
  tick();
}

async function action(out, f) {
  try { out.textContent = JSON.stringify(await f(), null, 2) || "done"; } catch (e) { out.textContent = "error: " + e.message; }
}

// matches reports whether an MQTT topic filter matches an address.
function matches(filter, address) {
  const f = filter.split("/"), a = address.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return !(i === 0 && a[0].startsWith("$"));
    if (i >= a.length) return false;
    if (f[i] === "+") { if (i === 0 && a[0].startsWith("$")) return false; continue; }
    if (f[i] !== a[i]) return false;
  }
  return f.length === a.length;
}

// explainAll asks POST /api/v1/explain what each consumer whose queue is
// bound to the address gets for the message: the result's content type,
// the start of its body, and the steps that made it.
async function explainAll(msg) {
  const rows = [];
  for (const c of await api("GET", "/consumers")) {
    if (!(c.bindings || []).some((b) => matches(b, msg.address))) continue;
    let x;
    try {
      x = await api("POST", "/explain", { message: msg, receiver: { protocol: c.protocol, accept: c.accept || "", queue: c.queue } });
    } catch (e) {
      x = { error: e.message };
    }
    const r = x.result || {};
    rows.push([c.client_id || c.queue, c.protocol, c.accept || "(none)", x.error ? "error: " + x.error : (x.dropped ? "dropped" : (r.content_type || "")),
      (r.body !== undefined ? r.body : (r.body_base64 ? "base64:" + r.body_base64 : "")).slice(0, 120),
      (x.steps || []).map((s) => s.name).join(" → ") || "as published"]);
  }
  return rows;
}

function setup() {
  window.addEventListener("hashchange", navigate);
  $("try").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = { address: $("try-address").value, body: $("try-body").value, content_type: $("try-type").value };
    await action($("try-result"), () => api("POST", "/publish", Object.assign({ retain: $("try-retain").checked }, msg)));
    const tb = $("try-receivers").tBodies[0];
    try {
      fillRows(tb, await explainAll(msg), 6, "no consumer is bound to " + msg.address);
    } catch (e) {
      fillRows(tb, [], 6, "error: " + e.message);
    }
  });
  const q = () => encodeURIComponent(route.arg);
  $("q-refresh").addEventListener("click", () => peekQueue(route.arg).catch((e) => { $("q-result").textContent = "error: " + e.message; }));
  $("q-purge").addEventListener("click", () => action($("q-result"), () => api("POST", "/queues/" + q() + "/purge")));
  $("q-move").addEventListener("click", () => action($("q-result"), () => api("POST", "/queues/" + q() + "/move")));
  $("q-delete").addEventListener("click", () => {
    if (confirm("Delete queue " + route.arg + " and its messages?")) action($("q-result"), () => api("DELETE", "/queues/" + q()));
  });
  $("k-close").addEventListener("click", () => action($("k-result"), () => api("DELETE", "/connections/" + q())));
  navigate();
  timer = setInterval(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", setup);
