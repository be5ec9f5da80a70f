// chatd browser client. Plain script, no build step; every server text goes through
// textContent, never innerHTML, so a message is always shown as text.
"use strict";

const STRINGS = {
  en: {
    title: "chatd", room: "Room", name: "Name", token: "Token", connect: "Connect",
    disconnect: "Disconnect", send: "Send", placeholder: "Write a message",
    offline: "offline", connecting: "connecting…", online: "online",
    waiting: (s) => `reconnecting in ${s}s`, closed: (c) => `closed (${c})`,
    people: (n) => `${n} online`, queued: "Not connected: the message is queued and will be sent on reconnect.",
    history: (n) => `${n} earlier message${n === 1 ? "" : "s"}`, slow: "The connection is busy: the message is queued.",
    gap: "Some messages from while you were away could not be recovered.",
  },
  zh: {
    title: "chatd 聊天", room: "房间", name: "名称", token: "令牌", connect: "连接",
    disconnect: "断开", send: "发送", placeholder: "输入消息",
    offline: "离线", connecting: "连接中…", online: "在线",
    waiting: (s) => `${s} 秒后重连`, closed: (c) => `已关闭 (${c})`,
    people: (n) => `${n} 人在线`, queued: "连接未就绪,消息已排队,重连后发送。",
    history: (n) => `已加载 ${n} 条历史消息`, slow: "连接繁忙,消息已排队。",
    gap: "离线期间的部分消息无法找回。",
  },
};
const lang = (navigator.languages || [navigator.language || "en"]).some((l) => /^zh\b/i.test(l)) ? "zh" : "en";
const t = STRINGS[lang];

const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 10000;
const JITTER_MS = 1000;
const MAX_BUFFERED = 64 * 1024;

const $ = (id) => document.getElementById(id);
const els = {
  status: $("status"), online: $("online"), log: $("log"), settings: $("settings"),
  room: $("room"), name: $("name"), token: $("token"), disconnect: $("disconnect"),
  composer: $("composer"), message: $("message"), counter: $("counter"),
};

let socket = null;
let attempt = 0;
let reconnectTimer = null;
let manual = false;
let myName = "";
const pending = [];      // JSON strings typed while offline, sent on open
const seen = new Set();  // message ids already shown, so a reconnect's history adds only what was missed
let lastSeq = 0;         // the newest sequence number shown in this room: reconnects resume from it
let lastRoom = "";

document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t[el.dataset.i18n];
for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t[el.dataset.i18nPlaceholder];
document.title = t.title;

const params = new URLSearchParams(location.search);
if (params.get("room")) els.room.value = params.get("room");
els.name.value = params.get("name") || localStorage.getItem("chatd.name") || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
if (params.get("token")) els.token.value = params.get("token");

function setStatus(state, text) {
  els.status.dataset.state = state;
  els.status.textContent = text;
}

function line(kind, parts, id) {
  const p = document.createElement("p");
  p.className = `line ${kind}`;
  if (id) p.dataset.id = id;
  for (const [cls, text] of parts) {
    const span = document.createElement("span");
    if (cls) span.className = cls;
    span.textContent = text;
    p.append(span);
  }
  const atBottom = els.log.scrollHeight - els.log.scrollTop - els.log.clientHeight < 40;
  els.log.append(p);
  if (atBottom) els.log.scrollTop = els.log.scrollHeight;
  return p;
}

function showMessage(m) {
  if (!m || typeof m.id !== "string" || seen.has(m.id)) return;
  seen.add(m.id);
  if (typeof m.seq === "number" && m.seq > lastSeq) lastSeq = m.seq;
  const time = typeof m.sentAt === "string" ? new Date(m.sentAt).toLocaleTimeString() : "";
  const kind = m.from === myName ? "message mine" : "message";
  line(kind, [["from", String(m.from)], ["text", String(m.text)], ["time", time]], m.id);
}

function connect() {
  manual = false;
  clearTimeout(reconnectTimer);
  if (socket && (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)) return;
  myName = els.name.value.trim();
  localStorage.setItem("chatd.name", myName);
  const room = els.room.value.trim();
  if (room !== lastRoom) {
    lastRoom = room;
    lastSeq = 0;
  }
  const query = new URLSearchParams({ name: myName, room });
  // After a drop (or a server restart) ask for exactly what was missed.
  if (lastSeq > 0) query.set("since", String(lastSeq));
  // The token travels as a subprotocol, which keeps it out of URLs and access logs; a token
  // with characters a subprotocol cannot hold falls back to the query, as the article does.
  const token = els.token.value;
  const protocols = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(token) ? ["chatd", `bearer.${token}`] : [];
  if (protocols.length === 0) query.set("token", token);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/chat?${query}`, protocols);
  socket = ws;
  setStatus("connecting", t.connecting);

  ws.addEventListener("open", () => {
    attempt = 0;
    setStatus("online", t.online);
    flush();
  });
  ws.addEventListener("message", (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch { return; }
    render(data);
  });
  ws.addEventListener("close", (event) => {
    if (socket !== ws) return;
    els.online.textContent = "";
    if (manual) {
      setStatus("offline", t.offline);
      return;
    }
    setStatus("waiting", t.closed(event.code));
    scheduleReconnect();
  });
}

// Exponential backoff capped at 10 s, plus random jitter so that clients of a restarted
// server do not all come back in the same instant; reset after a successful open.
function scheduleReconnect() {
  const delay = Math.min(BACKOFF_BASE_MS * 2 ** attempt, BACKOFF_CAP_MS) + Math.floor(Math.random() * JITTER_MS);
  attempt += 1;
  setStatus("waiting", t.waiting((delay / 1000).toFixed(1)));
  reconnectTimer = setTimeout(connect, delay);
}

function disconnect() {
  manual = true;
  clearTimeout(reconnectTimer);
  if (socket) socket.close(1000, "user disconnected");
  setStatus("offline", t.offline);
}

function canSend() {
  return socket && socket.readyState === WebSocket.OPEN && socket.bufferedAmount < MAX_BUFFERED;
}

function flush() {
  while (pending.length > 0 && canSend()) socket.send(pending.shift());
  for (const el of els.log.querySelectorAll(".pending")) if (pending.length === 0) el.remove();
}

function render(data) {
  switch (data.type) {
    case "message": showMessage(data.message); break;
    case "history": {
      if (data.before !== undefined) break;  // a page of older messages, which this page never asks for
      if (data.recovered === false) line("system", [["", t.gap]]);
      const fresh = Array.isArray(data.messages) ? data.messages.filter((m) => m && !seen.has(m.id)) : [];
      if (fresh.length > 0) line("system", [["", t.history(fresh.length)]]);
      fresh.forEach(showMessage);
      break;
    }
    case "presence":
      if (typeof data.online === "number") els.online.textContent = t.people(data.online);
      line("system", [["", String(data.message ?? "")]]);
      break;
    case "deleted": {
      const gone = [...els.log.querySelectorAll(".message")].find((el) => el.dataset.id === data.id);
      if (gone) gone.remove();
      break;
    }
    case "error": line("error", [["", `${data.code}: ${data.message}`]]); break;
    case "system": line("system", [["", String(data.message ?? "")]]); break;
    default: break;
  }
}

els.settings.addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket && socket.readyState === WebSocket.OPEN) {
    manual = true;
    socket.close(1000, "reconnecting with new settings");
    socket = null;
  }
  connect();
});
els.disconnect.addEventListener("click", disconnect);
els.message.addEventListener("input", () => { els.counter.textContent = `${els.message.value.length}/500`; });
els.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = els.message.value.trim();
  if (!text) return;
  const payload = JSON.stringify({ type: "message", text });
  if (canSend()) {
    socket.send(payload);
  } else {
    pending.push(payload);
    line("system pending", [["", socket && socket.readyState === WebSocket.OPEN ? t.slow : t.queued]]);
  }
  els.message.value = "";
  els.counter.textContent = "0/500";
});

connect();
