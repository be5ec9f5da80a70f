// chatd's admin console: polls /api/admin/* with the admin's bearer token (kept in this
// tab's sessionStorage, never a cookie) and runs moderation through POST
// /api/admin/actions. Every server text goes through textContent.
import { t, translatePage, duration, time } from "/admin-i18n.js";
import { drawChart } from "/admin-chart.js";

const POLL_MS = 3000;
const TOKEN_KEY = "chatd-admin-token";
const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem(TOKEN_KEY) || "";
let pollTimer = null;
let lastRooms = new Map(); // room -> {seq, at}: message rate from lastSeq deltas
let rates = new Map();

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, body) {
  const init = { headers: { Authorization: `Bearer ${token}` }, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api/admin/${path}`, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`);
  return data;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function button(label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function fillTable(id, items, empty, build) {
  const body = $(id).tBodies[0];
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    build(tr, item);
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(tr, empty, "empty");
    td.colSpan = $(id).tHead.rows[0].cells.length;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function notice(text, isError) {
  const el = $("notice");
  el.textContent = text;
  el.classList.toggle("error", Boolean(isError));
}

// MARK: Rendering

function renderStatus(s) {
  const items = [
    [t.version, s.version], [t.uptime, duration(s.uptimeSeconds)], [t.connections, s.connections],
    [t.rooms, s.rooms], [t.generation, s.configGeneration], [t.ready, s.ready ? t.yes : t.no],
    [t.lastReload, !s.lastReload ? t.never : s.lastReload.ok
      ? t.reloadOk(s.lastReload.generation, time(s.lastReload.at))
      : t.reloadFailed(s.lastReload.error || "?", time(s.lastReload.at))],
    [t.cluster, s.cluster ? t.clusterInfo(s.cluster.node, s.cluster.peers.length) : t.standalone],
  ];
  const nodes = [];
  for (const [name, value] of items) {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    if (name === t.lastReload && s.lastReload && !s.lastReload.ok) dd.className = "error";
    div.append(dt, dd);
    nodes.push(div);
  }
  $("overview").replaceChildren(...nodes);
}

function renderRooms(rooms) {
  const now = performance.now() / 1000;
  const next = new Map();
  for (const r of rooms) {
    const before = lastRooms.get(r.name);
    if (before && now > before.at) rates.set(r.name, Math.max(0, r.lastSeq - before.seq) / (now - before.at));
    next.set(r.name, { seq: r.lastSeq, at: now });
  }
  lastRooms = next;
  fillTable("rooms", rooms, t.noRooms, (tr, r) => {
    tr.dataset.room = r.name;
    cell(tr, r.name);
    cell(tr, r.online, "num");
    cell(tr, r.lastSeq, "num");
    const rate = rates.get(r.name);
    cell(tr, rate == null ? "–" : rate.toFixed(2), "num");
  });
}

function renderConnections(data) {
  const note = $("conn-truncated");
  note.hidden = !data.truncated;
  note.textContent = data.truncated ? t.truncated(data.connections.length, data.total) : "";
  fillTable("connections", data.connections, t.noConnections, (tr, c) => {
    tr.dataset.connection = c.id;
    cell(tr, c.name);
    cell(tr, c.user || "");
    cell(tr, c.room);
    cell(tr, c.address);
    cell(tr, duration(c.connectedSeconds));
    const td = cell(tr, "");
    td.appendChild(button(t.kick, () => {
      if (!confirm(t.confirmKick(c.name, c.room))) return;
      act({ command: "kick", connection: c.id, reason: "kicked from the admin console" }, `${t.kick} ${c.name}`);
    }, "kick danger"));
  });
}

function renderAudit(data) {
  fillTable("audit", data.entries, t.noAudit, (tr, e) => {
    cell(tr, time(e.at));
    cell(tr, e.actor);
    cell(tr, e.action);
    cell(tr, e.target);
    cell(tr, e.reason);
  });
}

function renderWebhooks(data) {
  fillTable("webhooks", data.webhooks, t.noWebhooks, (tr, h) => {
    cell(tr, h.configured ? h.name : `${h.name} (–)`);
    cell(tr, h.pending, "num");
    cell(tr, h.failed, h.failed > 0 ? "num error" : "num");
    cell(tr, h.lastSuccessAt ? time(h.lastSuccessAt) : t.never);
    cell(tr, h.lastError || "");
    const td = cell(tr, "");
    if (h.failed > 0) {
      td.appendChild(button(t.retry, () => {
        if (!confirm(t.confirmRetry(h.name))) return;
        act({ command: "webhooks-retry", hook: h.name }, `${t.retry} ${h.name}`);
      }));
    }
  });
}

function renderSeries(data) {
  const samples = data.samples;
  drawChart($("chart-messages"), [
    { name: t.legendIn, cls: "in", points: samples.filter((s) => s.inPerSecond != null).map((s) => [s.at, s.inPerSecond]) },
    { name: t.legendOut, cls: "out", points: samples.filter((s) => s.outPerSecond != null).map((s) => [s.at, s.outPerSecond]) },
  ], { label: t.chartMessages, empty: t.noData, span: duration });
  drawChart($("chart-connections"), [
    { name: t.connections, cls: "conn", points: samples.map((s) => [s.at, s.connections]) },
  ], { label: t.chartConnections, empty: t.noData, span: duration });
}

// MARK: Polling

function auditQuery() {
  const params = new URLSearchParams();
  const action = $("audit-action").value;
  const actor = $("audit-actor").value.trim();
  const room = $("audit-room").value.trim();
  const limit = $("audit-limit").value;
  if (action) params.set("action", action);
  if (actor) params.set("actor", actor);
  if (room) params.set("room", room);
  if (limit && /^[0-9]+$/.test(limit)) params.set("limit", String(Math.min(500, Math.max(1, Number(limit)))));
  const q = params.toString();
  return q ? `audit?${q}` : "audit";
}

async function refreshAudit() {
  renderAudit(await api(auditQuery()));
}

let polling = false;
let pollAgain = false;

// One poll at a time: an action's refresh during a poll runs right after it, and only one
// timer is ever pending.
async function poll() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  clearTimeout(pollTimer);
  try {
    const room = $("conn-room").value.trim();
    const [status, rooms, connections, series, webhooks] = await Promise.all([
      api("status"), api("rooms"), api(room ? `connections?room=${encodeURIComponent(room)}` : "connections"),
      api("series"), api("webhooks").catch((e) => (e.status === 503 ? { webhooks: [] } : Promise.reject(e))),
    ]);
    renderStatus(status);
    renderRooms(rooms.rooms);
    renderConnections(connections);
    renderSeries(series);
    renderWebhooks(webhooks);
    await refreshAudit();
    $("poll").textContent = t.updated(new Date().toLocaleTimeString());
    $("poll").classList.remove("error");
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      polling = pollAgain = false;
      return signOut(e.status === 403 ? t.notAdmin : t.signedOutExpired);
    }
    $("poll").textContent = t.pollFailed(e.message);
    $("poll").classList.add("error");
  }
  polling = false;
  if (!token) return;
  if (pollAgain) {
    pollAgain = false;
    return poll();
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

async function act(request, what) {
  try {
    await api("actions", request);
    notice(t.done(what), false);
  } catch (e) {
    notice(t.refused(e.message), true);
  }
  poll();
}

// MARK: Sign in and out

async function signIn(candidate) {
  token = candidate;
  try {
    await api("status");
  } catch (e) {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    $("login-error").textContent = e.status === 403 ? t.notAdmin : e.status === 401 ? t.badToken : e.message;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login-error").textContent = "";
  $("login").hidden = true;
  $("console").hidden = false;
  $("logout").hidden = false;
  poll();
}

function signOut(message) {
  clearTimeout(pollTimer);
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  lastRooms = new Map();
  rates = new Map();
  $("console").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

// MARK: Forms

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value.trim());
});
$("logout").addEventListener("click", () => signOut(""));

$("restrict").addEventListener("submit", (event) => {
  event.preventDefault();
  const command = $("restrict-action").value;
  const user = $("restrict-user").value.trim();
  const select = $("restrict-duration");
  const timed = command === "mute" || command === "ban";
  const seconds = timed && select.value ? Number(select.value) : null;
  const label = $("restrict-action").selectedOptions[0].textContent;
  if (!confirm(t.confirmRestrict(label, user, seconds ? select.selectedOptions[0].textContent : ""))) return;
  const request = { command, user };
  if (seconds) request.seconds = seconds;
  const reason = $("restrict-reason").value.trim();
  if (reason) request.reason = reason;
  act(request, `${label} ${user}`);
});
$("restrict-action").addEventListener("change", () => {
  const timed = ["mute", "ban"].includes($("restrict-action").value);
  $("restrict-duration").disabled = !timed;
});

$("delete").addEventListener("submit", (event) => {
  event.preventDefault();
  const room = $("delete-room").value.trim();
  const seq = $("delete-seq").value.trim();
  if (!confirm(t.confirmDelete(room, seq))) return;
  const request = { command: "delete", room, seq: Number(seq) };
  const reason = $("delete-reason").value.trim();
  if (reason) request.reason = reason;
  act(request, `${t.deleteMessage} ${room} #${seq}`);
});

$("purge").addEventListener("submit", (event) => {
  event.preventDefault();
  const user = $("purge-user").value.trim();
  if (!confirm(t.confirmPurge(user))) return;
  const request = { command: "purge-user", user };
  const reason = $("purge-reason").value.trim();
  if (reason) request.reason = reason;
  act(request, `${t.purgeUser}: ${user}`);
});

// Filters apply as they change (and on every poll).
$("audit-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  refreshAudit().catch((e) => notice(t.refused(e.message), true));
});
for (const id of ["audit-action", "audit-actor", "audit-room", "audit-limit"]) {
  $(id).addEventListener("change", () => refreshAudit().catch((e) => notice(t.refused(e.message), true)));
}
$("conn-room").addEventListener("change", () => poll());

translatePage();
if (token) signIn(token);
else $("token").focus();
