// chatd's browser page, on the chatd.js client library: rooms with unread badges, replies,
// edits, deletes, reactions, typing and older history. No build step; every server text
// goes through textContent (view-message.js), never innerHTML.
import { ChatClient } from "/chatd.js";
import { applyLabels, errorText, presenceText, parsePresence, systemText, t } from "./i18n.js";
import { Room } from "./room.js";
import { renderRoomList } from "./view-rooms.js";
import { fillQuote, renderEditor, renderMessage, renderPicker, renderReactions, systemLine } from "./view-message.js";

const OLDER_PAGE = 50;
const TYPING_SHOWN_MS = 3500; // chatd passes on one `typing` per sender every 2 s while they type
const DELETE_CONFIRM_MS = 4000;

const $ = (id) => document.getElementById(id);
const els = {
  status: $("status"), settings: $("settings"), room: $("room"), name: $("name"), token: $("token"),
  disconnect: $("disconnect"), modTools: $("mod-tools"), rooms: $("rooms"), joinForm: $("join-form"),
  joinRoom: $("join-room"), roomTitle: $("room-title"), online: $("online"), memberList: $("member-list"),
  log: $("log"), typing: $("typing"), replying: $("replying"), replyingText: $("replying-text"),
  cancelReply: $("cancel-reply"), composer: $("composer"), message: $("message"), counter: $("counter"),
  announcer: $("announcer"), alerts: $("alerts"), membersTitle: $("members-title"), membersNote: $("members-note"),
};

const state = {
  client: null,
  settings: null, // [name, room, token] of the client, to tell a Connect that changes nothing
  me: null,
  current: null,
  rooms: new Map(),
  replyTo: null,
  countdown: null,
  unsubscribe: [],
};

applyLabels();
// On a phone the connection settings fold away once connected, leaving the screen to the chat.
if (matchMedia("(max-width: 640px)").matches) $("settings-panel").open = false;

const params = new URLSearchParams(location.search);
if (params.get("room")) els.room.value = params.get("room");
els.name.value = params.get("name") || localStorage.getItem("chatd.name") || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
if (params.get("token")) els.token.value = params.get("token");
els.modTools.checked = localStorage.getItem("chatd.modTools") === "1";
document.body.classList.toggle("mod", els.modTools.checked);

function room(name) {
  let r = state.rooms.get(name);
  if (!r) {
    r = new Room(name);
    state.rooms.set(name, r);
  }
  return r;
}

const isMine = (m) => state.me !== null && m.from === state.me;

// ---- status

function setStatus(kind, text) {
  els.status.dataset.state = kind;
  els.status.textContent = text;
}

function onStatus({ state: s, delayMs, code, reason }) {
  clearInterval(state.countdown);
  state.countdown = null;
  if (s === "open") setStatus("online", t.online);
  else if (s === "connecting") setStatus("connecting", t.connecting);
  else if (s === "waiting") {
    const until = Date.now() + (Number.isFinite(delayMs) ? delayMs : 0);
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      setStatus("waiting", left > 0 ? t.waiting(left) : t.retrying);
    };
    tick();
    state.countdown = setInterval(tick, 250);
  } else {
    const why = reason || (code && code !== 1000 ? String(code) : "");
    setStatus("offline", why ? t.closed(why) : t.offline);
  }
}

// ---- rooms list

function renderRooms() {
  renderRoomList(els.rooms, state.rooms.values(), state.current, isMine, els.joinRoom);
  // The tab's title counts what is unread, so that it shows from another tab.
  let unread = 0;
  for (const r of state.rooms.values()) unread += r.unread(isMine);
  document.title = unread > 0 ? `(${unread}) ${t.title}` : t.title;
}

function saveRooms() {
  const joined = [...state.rooms.values()].filter((r) => r.joined).map((r) => r.name);
  localStorage.setItem("chatd.rooms", JSON.stringify(joined));
}

function savedRooms() {
  try {
    const list = JSON.parse(localStorage.getItem("chatd.rooms") || "[]");
    return Array.isArray(list) ? list.filter((r) => typeof r === "string" && /^[A-Za-z0-9_-]{1,32}$/.test(r)) : [];
  } catch {
    return [];
  }
}

async function refreshRoomList() {
  const client = state.client;
  try {
    const list = await client.listRooms();
    if (client !== state.client) return;
    for (const info of list) {
      const r = room(info.room);
      r.readSeq = Math.max(r.readSeq, info.readSeq || 0);
      r.capped = Boolean(info.unreadCapped);
      if (info.joined) {
        if (typeof info.lastSeq === "number") {
          r.serverUnread = info.unread;
          r.serverLastSeq = info.lastSeq;
        }
      } else if (!r.joined) {
        r.serverUnread = info.unread;
      }
    }
    renderRooms();
  } catch (error) {
    // A store that cannot list rooms leaves the list to the rooms joined.
    if (error?.code !== "unavailable") console.warn("rooms", error);
  }
}

// ---- the shown room

function showRoom(name) {
  const r = room(name);
  state.current = name;
  els.roomTitle.textContent = `#${name}`;
  els.log.setAttribute("aria-label", t.messages(name));
  els.log.replaceChildren(r.el);
  if (state.replyTo && state.replyTo.room !== name) cancelReply();
  renderMembers();
  refreshMembers(MEMBERS_SHOWN_MS);
  renderTyping();
  renderRooms();
  els.log.scrollTop = els.log.scrollHeight;
  observeAll(r);
}

function renderMembers() {
  const r = state.current ? room(state.current) : null;
  els.online.textContent = r && typeof r.online === "number" ? t.people(r.online) : "";
  const items = [];
  const item = (text, className = "") => {
    const li = document.createElement("li");
    li.className = className;
    li.textContent = text;
    items.push(li);
  };
  const list = r?.members;
  if (list) {
    // chatd's own list (the `members` request): names on this node, counts elsewhere.
    for (const { name, connections } of list.members) item(connections > 1 ? t.connections(name, connections) : name, "here");
    if (list.truncated) item(t.more, "note-item");
    if (list.elsewhere > 0) item(t.elsewhere(list.elsewhere), "note-item");
  } else if (r) {
    // An older chatd without `members`: the names seen in the room's messages and joins.
    for (const name of [...r.seen.keys()].sort((a, b) => a.localeCompare(b))) {
      const here = r.seen.get(name);
      item(name, here === true ? "here" : here === false ? "gone" : "");
    }
  }
  els.membersTitle.textContent = list ? t.membersTitle : t.seen;
  els.membersNote.hidden = Boolean(list);
  els.memberList.replaceChildren(...items);
}

// Who is in the shown room, asked of chatd when it is shown and after presence changes: at
// most once per 5 s (once per 2 s for a room just shown), the last change of a burst
// answered by one trailing request. Others' joins and leaves must not spend our rate limit.
// chatd's list adds up (online = its connections + elsewhere): no asking again.
const MEMBERS_EVERY_MS = 5000;
const MEMBERS_SHOWN_MS = 2000;
const members = { last: -Infinity, due: 0, timer: null };
let membersUnsupported = false;
function refreshMembers(gapMs = MEMBERS_EVERY_MS) {
  if (membersUnsupported) return;
  const due = Math.max(Date.now(), members.last + gapMs);
  if (members.timer && members.due <= due) return;
  clearTimeout(members.timer);
  members.due = due;
  members.timer = setTimeout(askMembers, due - Date.now());
}

async function askMembers() {
  members.timer = null;
  const client = state.client;
  const name = state.current;
  if (!client || !name || membersUnsupported || typeof client.members !== "function" || client.state !== "open") return;
  const r = room(name);
  if (!r.joined) return;
  members.last = Date.now();
  try {
    const list = await client.members(name);
    if (client !== state.client) return;
    r.members = list;
    if (typeof r.online !== "number") r.online = list.online;
    if (name === state.current) renderMembers();
  } catch (error) {
    if (error?.code === "bad_type") membersUnsupported = true; // a chatd from before `members`
    else if (error?.code === "rate_limited") refreshMembers(); // later, quietly
  }
}

function renderTyping() {
  const r = state.current ? room(state.current) : null;
  const names = r ? [...r.typing.keys()] : [];
  els.typing.textContent =
    names.length === 0 ? "" : names.length === 1 ? t.typing1(names[0]) : names.length === 2 ? t.typing2(names[0], names[1]) : t.typingMany(names.length);
}

function scrolledToBottom() {
  return els.log.scrollHeight - els.log.scrollTop - els.log.clientHeight < 60;
}

function appendLine(r, kind, text) {
  const atBottom = scrolledToBottom();
  const line = systemLine(kind, text);
  r.el.append(line);
  if (r.name === state.current && atBottom) els.log.scrollTop = els.log.scrollHeight;
  return line;
}

function notify(text) {
  els.alerts.textContent = "";
  els.alerts.textContent = text;
}

function showError(roomName, code, message) {
  const text = errorText(code, message);
  appendLine(room(roomName || state.current || els.room.value), "error", text);
  notify(text);
}

// ---- messages

function quoteOf(r, seq) {
  return r.messages.get(seq) || r.quoted.get(seq) || null;
}

function updateQuotes(r, seq, deleted = false) {
  for (const quote of r.el.querySelectorAll(`.quote[data-reply-to="${seq}"]`)) fillQuote(quote, quoteOf(r, seq), seq, deleted);
}

// Quoted messages not loaded are fetched only once their quote is on screen, and together:
// one `older()` covering the wanted range, one in flight, at most one per 2 s. Others'
// replies to old messages must not spend our rate limit. The quote says "…" meanwhile.
const QUOTES_EVERY_MS = 2000;
const QUOTES_SPAN = 50; // the widest range asked at once (a page of older history)
const quotes = { wanted: new Map(), tried: new Set(), busy: false, last: -Infinity, timer: null };
const quoteObserver = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const quote = entry.target;
      quoteObserver.unobserve(quote);
      const node = quote.closest(".message");
      const r = state.rooms.get(node?.dataset.room ?? "");
      const seq = Number(quote.dataset.replyTo);
      if (!r || quoteOf(r, seq) || quotes.tried.has(`${r.name}/${seq}`)) continue;
      if (!quotes.wanted.has(r.name)) quotes.wanted.set(r.name, new Set());
      quotes.wanted.get(r.name).add(seq);
      scheduleQuotes();
    }
  },
  { root: els.log },
);

function scheduleQuotes() {
  if (quotes.busy || quotes.timer || quotes.wanted.size === 0) return;
  quotes.timer = setTimeout(fetchQuotes, Math.max(0, quotes.last + QUOTES_EVERY_MS - Date.now()));
}

async function fetchQuotes() {
  quotes.timer = null;
  const client = state.client;
  const [name, seqs] = quotes.wanted.entries().next().value ?? [];
  if (!client || !name || client.state !== "open") return;
  const r = room(name);
  const top = Math.max(...seqs);
  const asked = [...seqs].filter((seq) => seq > top - QUOTES_SPAN && !quoteOf(r, seq));
  for (const seq of seqs) if (seq > top - QUOTES_SPAN) seqs.delete(seq);
  if (seqs.size === 0) quotes.wanted.delete(name);
  if (asked.length === 0) return scheduleQuotes();
  const low = Math.min(...asked);
  quotes.busy = true;
  quotes.last = Date.now();
  try {
    const page = await client.older(name, top + 1, top - low + 1);
    for (const m of page) if (m && asked.includes(m.seq) && !r.messages.has(m.seq)) r.quoted.set(m.seq, m);
  } catch (error) {
    // Refused for now (the connection dropped, the rate limit): asked again later. Otherwise
    // the quotes say "message #N": nothing more is known of them.
    if (["disconnected", "rate_limited", "timeout", "offline"].includes(error?.code) && client === state.client) {
      if (!quotes.wanted.has(name)) quotes.wanted.set(name, new Set());
      for (const seq of asked) quotes.wanted.get(name).add(seq);
      quotes.busy = false;
      return scheduleQuotes();
    }
  } finally {
    quotes.busy = false;
  }
  for (const seq of asked) {
    quotes.tried.add(`${name}/${seq}`);
    updateQuotes(r, seq);
  }
  scheduleQuotes();
}

/** A reply's quote of a message not loaded: "…" until it comes into view and is fetched. */
function awaitQuote(r, node, seq) {
  const quote = node.querySelector(`.quote[data-reply-to="${seq}"]`);
  if (!quote || quotes.tried.has(`${r.name}/${seq}`)) return;
  quote.replaceChildren();
  const dots = document.createElement("span");
  dots.className = "quote-text missing";
  dots.textContent = "…";
  quote.append(dots);
  quoteObserver.observe(quote);
}

function addMessage(m, live) {
  if (!m || typeof m.seq !== "number" || typeof m.room !== "string") return;
  const r = room(m.room);
  if (r.messages.has(m.seq)) return;
  r.messages.set(m.seq, m);
  r.quoted.delete(m.seq);
  if (m.seq === 1 && !r.complete) {
    r.complete = true;
    r.renderOlder();
  }
  r.seen.set(m.from, r.seen.get(m.from) ?? null);
  const node = renderMessage(m, isMine(m), (seq) => quoteOf(r, seq));
  node.dataset.room = r.name;
  if (Number.isInteger(m.replyTo) && !quoteOf(r, m.replyTo)) awaitQuote(r, node, m.replyTo);
  r.nodes.set(m.seq, node);
  const shown = r.name === state.current;
  const atBottom = shown && scrolledToBottom();
  let next = null;
  for (const [seq, other] of r.nodes) if (seq > m.seq && (!next || seq < Number(next.dataset.seq))) next = other;
  r.el.insertBefore(node, next);
  updateQuotes(r, m.seq);
  if (shown && (atBottom || (live && isMine(m)))) els.log.scrollTop = els.log.scrollHeight;
  if (shown) observer.observe(node);
  if (live) {
    if (r.typing.has(m.from)) {
      clearTimeout(r.typing.get(m.from));
      r.typing.delete(m.from);
      if (shown) renderTyping();
    }
    if (shown && !isMine(m)) els.announcer.textContent = t.newMessage(m.from, m.text);
  }
}

function removeMessage(r, seq) {
  const node = r.nodes.get(seq);
  if (node) {
    observer.unobserve(node);
    const quote = node.querySelector(".quote");
    if (quote) quoteObserver.unobserve(quote);
    // Focus inside a message that goes (its own Delete) moves to the log, not to nowhere.
    const hadFocus = node.contains(document.activeElement);
    node.remove();
    if (hadFocus) els.log.focus();
  }
  r.nodes.delete(seq);
  r.messages.delete(seq);
  r.quoted.delete(seq);
  if (state.replyTo && state.replyTo.room === r.name && state.replyTo.seq === seq) cancelReply();
  updateQuotes(r, seq, true);
}

// Messages are read when they are shown: on screen, in the shown room, in a visible tab.
const observer = new IntersectionObserver(
  (entries) => {
    if (document.visibilityState !== "visible" || !state.current) return;
    let newest = 0;
    for (const entry of entries) {
      if (!entry.isIntersecting || !els.log.contains(entry.target)) continue;
      // Half of it on screen, or half the log's height for a message taller than the log.
      const half = entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= entry.rootBounds.height / 2;
      if (half) newest = Math.max(newest, Number(entry.target.dataset.seq));
    }
    if (newest > 0) markRead(room(state.current), newest);
  },
  { root: els.log, threshold: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] },
);

function observeAll(r) {
  for (const node of r.nodes.values()) {
    observer.unobserve(node);
    observer.observe(node);
  }
}

function markRead(r, seq) {
  if (!r.joined || seq <= r.readSeq) return;
  r.readSeq = seq;
  state.client?.markRead(r.name, seq);
  renderRooms();
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.current) observeAll(room(state.current));
});

async function loadOlder(r) {
  if (r.complete || r.loadingOlder || !state.client || !r.joined) return;
  const oldest = r.oldestSeq();
  const before = Number.isFinite(oldest) ? oldest : state.client.lastSeq(r.name) + 1;
  if (before <= 1) {
    r.complete = true;
    r.renderOlder();
    return;
  }
  r.loadingOlder = true;
  r.renderOlder();
  const height = els.log.scrollHeight;
  try {
    const page = await state.client.older(r.name, before, OLDER_PAGE);
    for (const m of page) addMessage(m, false);
    if (page.length < OLDER_PAGE) r.complete = true;
    if (r.name === state.current) els.log.scrollTop += els.log.scrollHeight - height;
  } catch (error) {
    showError(r.name, error?.code || "unavailable", error?.message);
  } finally {
    r.loadingOlder = false;
    r.renderOlder();
    renderRooms();
  }
}

// ---- events from chatd.js

function onHistory({ room: name, messages, recovered, resumed }) {
  const r = room(name);
  r.joined = true;
  // A welcome without messages is a room with none (the window holds the newest).
  if (!resumed && (messages || []).length === 0 && r.messages.size === 0) r.complete = true;
  if (recovered === false) appendLine(r, "system", t.gap);
  for (const m of messages || []) addMessage(m, false);
  r.renderOlder();
  if (name === state.current) {
    els.log.scrollTop = els.log.scrollHeight;
    observeAll(r);
    if (!r.members) refreshMembers(MEMBERS_SHOWN_MS);
  }
  renderRooms();
}

function onEdited({ room: name, seq, text, editedAt }) {
  const r = room(name);
  const m = quoteOf(r, seq);
  if (m) {
    m.text = text;
    m.editedAt = editedAt;
  }
  const node = r.nodes.get(seq);
  if (node) {
    node.querySelector(":scope > .text").textContent = text;
    const mark = node.querySelector(".edited");
    mark.hidden = false;
    mark.title = editedAt || "";
  }
  updateQuotes(r, seq);
}

function onReactions({ room: name, seq, counts, emoji, added, mine }) {
  const r = room(name);
  const m = quoteOf(r, seq);
  if (!m) return;
  m.reactions = counts || {};
  const own = new Set(m.mine || []);
  if (mine) {
    if (added) own.add(emoji);
    else own.delete(emoji);
  }
  m.mine = [...own];
  const node = r.nodes.get(seq);
  if (node) renderReactions(node.querySelector(".reactions"), m.reactions, m.mine);
}

function onPresence({ room: name, message, online }) {
  const r = room(name);
  if (typeof online === "number") r.online = online;
  for (const part of parsePresence(message) || []) for (const who of part.names) r.seen.set(who, part.verb === "joined");
  if (message) appendLine(r, "system presence", presenceText(message));
  if (name === state.current) {
    renderMembers();
    refreshMembers();
  }
}

function onTyping({ room: name, from }) {
  if (from === state.me) return;
  const r = room(name);
  clearTimeout(r.typing.get(from));
  r.typing.set(
    from,
    setTimeout(() => {
      r.typing.delete(from);
      if (name === state.current) renderTyping();
    }, TYPING_SHOWN_MS),
  );
  if (!r.seen.has(from)) r.seen.set(from, null);
  if (name === state.current) renderTyping();
}

function onUnread({ room: name, readSeq, unread, lastSeq, unreadCapped }) {
  const r = room(name);
  r.readSeq = Math.max(r.readSeq, readSeq || 0);
  r.serverUnread = unread || 0;
  r.serverLastSeq = lastSeq || 0;
  r.capped = Boolean(unreadCapped);
  renderRooms();
}

function onLeft({ room: name, reason }) {
  const r = room(name);
  r.joined = false;
  r.serverUnread = 0;
  r.online = null;
  if (reason && reason !== "request") notify(t.leftRoom(name, reason));
  saveRooms();
  if (state.current === name) {
    const next = [...state.rooms.values()].find((x) => x.joined);
    if (next) showRoom(next.name);
    else renderRooms();
  } else renderRooms();
}

// Messages in the library's queue while offline (typed now, or left by an earlier load of
// the page and sent again with their nonce) are shown as waiting until chatd has them.
const pendingLines = new Map(); // nonce → {line, room, text}
function syncQueued(delivered = null) {
  const client = state.client;
  const queued = client ? client.queued : [];
  const nonces = new Set(queued.map((q) => q.nonce));
  for (const [nonce, pending] of pendingLines) {
    // Our own message coming back also ends its line: chatd's `sent` for it may come after
    // the message, and the library tells no event for it.
    const arrived = delivered && isMine(delivered) && delivered.room === pending.room && delivered.text === pending.text;
    if (!nonces.has(nonce) || arrived) {
      pending.line.remove();
      pendingLines.delete(nonce);
      if (arrived) delivered = null;
    }
  }
  // Online, a message is in the queue only for the moment until chatd stores it.
  if (!client || client.state === "open") return;
  for (const q of queued) {
    if (!pendingLines.has(q.nonce)) {
      pendingLines.set(q.nonce, { line: appendLine(room(q.room), "pending", `${q.text} — ${t.queued}`), room: q.room, text: q.text });
    }
  }
}

function connect() {
  const name = els.name.value.trim();
  // A name chatd would not take (it would put us in its default room) is not shown as ours.
  const asked = els.room.value.trim();
  const first = /^[A-Za-z0-9_-]{1,32}$/.test(asked) ? asked : "lobby";
  const token = els.token.value;
  const settings = JSON.stringify([name, first, token]);
  // Connect with the settings unchanged: the same client, now (not at the end of its backoff
  // delay), its queue of unsent messages kept.
  if (state.client && state.client.state !== "closed" && state.settings === settings) {
    state.client.reconnectNow();
    return;
  }
  disconnect(false);
  localStorage.setItem("chatd.name", name);
  state.settings = settings;
  const rooms = [first, ...savedRooms().filter((r) => r !== first)];
  state.rooms = new Map();
  pendingLines.clear();
  state.me = null;
  state.current = null;
  els.log.replaceChildren();
  cancelReply();
  quotes.wanted.clear();
  quotes.tried.clear();
  showRoom(first);
  const client = new ChatClient({ token: token || undefined, name, rooms });
  state.client = client;
  const on = (type, fn) => state.unsubscribe.push(client.on(type, (detail) => state.client === client && fn(detail)));
  on("status", (detail) => {
    onStatus(detail);
    syncQueued();
    if (detail.state === "open") scheduleQuotes();
  });
  let welcomed = false;
  on("welcome", ({ name: me, role, message }) => {
    state.me = me || client.name;
    applyRole(role);
    const r = room(client.rooms[0] || first);
    r.seen.set(state.me, true);
    // Said once: after a reconnect the status says it, and the log keeps to the chat.
    if (!welcomed) appendLine(r, "system", systemText(message || `connected as ${state.me}`));
    welcomed = true;
    refreshRoomList();
  });
  on("history", (detail) => {
    onHistory(detail);
    syncQueued();
  });
  on("message", ({ message }) => {
    addMessage(message, true);
    renderRooms();
    syncQueued(message);
  });
  on("edited", onEdited);
  on("deleted", ({ room: name, seq }) => {
    removeMessage(room(name), seq);
    renderRooms();
  });
  on("reactions", onReactions);
  on("typing", onTyping);
  on("presence", onPresence);
  on("read", ({ room: name, seq }) => {
    const r = room(name);
    r.readSeq = Math.max(r.readSeq, seq);
    renderRooms();
  });
  on("unread", onUnread);
  on("joined", ({ room: name }) => {
    room(name).joined = true;
    saveRooms();
    renderRooms();
  });
  on("left", onLeft);
  on("missed", ({ room: name, count }) => appendLine(room(name), "system", t.missed(count)));
  on("system", ({ message }) => appendLine(room(state.current || first), "system", systemText(message)));
  on("error", ({ code, message }) => showError(state.current, code, message));
  onStatus({ state: client.state });
  syncQueued();
}

function disconnect(manual = true) {
  for (const off of state.unsubscribe) off();
  state.unsubscribe = [];
  // close() drops the messages not yet sent: their texts go back to the composer rather
  // than being lost (or sent under settings they were not written for).
  const unsent = state.client ? state.client.queued.map((q) => q.text) : [];
  if (state.client) state.client.close();
  state.client = null;
  state.settings = null;
  if (unsent.length) {
    const typed = els.message.value.trim();
    els.message.value = [...unsent, ...(typed ? [typed] : [])].join(" ");
    els.counter.textContent = `${els.message.value.length}/500`;
    notify(t.unsentRestored(unsent.length));
  }
  clearInterval(state.countdown);
  if (manual) setStatus("offline", t.offline);
}

// ---- user actions

function startReply(r, seq) {
  const m = r.messages.get(seq);
  if (!m) return;
  state.replyTo = { room: r.name, seq };
  els.replyingText.textContent = `${t.replyingTo(m.from)}: ${m.text}`;
  els.replying.hidden = false;
  els.message.focus();
}

function cancelReply() {
  state.replyTo = null;
  els.replying.hidden = true;
  els.replyingText.textContent = "";
}

function startEdit(r, seq, node) {
  const m = r.messages.get(seq);
  if (!m || node.querySelector(".editor")) return;
  const text = node.querySelector(":scope > .text");
  const form = renderEditor(m.text);
  text.hidden = true;
  text.after(form);
  const input = form.querySelector("textarea");
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  const close = () => {
    form.remove();
    text.hidden = false;
    node.querySelector(".act-edit")?.focus();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value === m.text || value === "") {
      close();
      return;
    }
    state.client.edit(r.name, seq, value).then(close, (error) => showError(r.name, error?.code, error?.message));
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.querySelector(".edit-cancel").addEventListener("click", close);
}

function askDelete(r, seq, button) {
  if (button.dataset.confirm !== "1") {
    button.dataset.confirm = "1";
    button.textContent = t.confirmDelete;
    button.classList.add("confirm");
    setTimeout(() => {
      button.dataset.confirm = "";
      button.textContent = t.delete;
      button.classList.remove("confirm");
    }, DELETE_CONFIRM_MS);
    return;
  }
  state.client.delete(r.name, seq).catch((error) => showError(r.name, error?.code, error?.message));
}

let openPicker = null;
function closePicker(refocus = true) {
  if (!openPicker) return;
  const { menu, button } = openPicker;
  openPicker = null;
  menu.remove();
  button.setAttribute("aria-expanded", "false");
  if (refocus) button.focus();
}

function togglePicker(button) {
  const same = openPicker?.button === button;
  closePicker(false);
  if (same) return;
  const menu = renderPicker();
  button.after(menu);
  button.setAttribute("aria-expanded", "true");
  openPicker = { menu, button };
  menu.querySelector("button").focus();
}

function react(r, seq, emoji) {
  const m = quoteOf(r, seq);
  if (!m) return;
  const mine = (m.mine || []).includes(emoji);
  const request = mine ? state.client.unreact(r.name, seq, emoji) : state.client.react(r.name, seq, emoji);
  request.catch((error) => showError(r.name, error?.code, error?.message));
}

function showQuoted(r, seq) {
  const node = r.nodes.get(seq);
  if (!node) return;
  node.tabIndex = -1;
  node.scrollIntoView({ block: "center" });
  node.focus();
}

els.log.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button || !state.current || !state.client) return;
  const r = room(state.current);
  const node = button.closest(".message");
  const seq = node ? Number(node.dataset.seq) : 0;
  switch (button.dataset.action) {
    case "older": loadOlder(r); break;
    case "reply": startReply(r, seq); break;
    case "edit": startEdit(r, seq, node); break;
    case "delete": askDelete(r, seq, button); break;
    case "react": togglePicker(button); break;
    case "pick": {
      const emoji = button.dataset.emoji;
      closePicker();
      react(r, seq, emoji);
      break;
    }
    case "toggle-reaction": react(r, seq, button.dataset.emoji); break;
    case "show-quoted": showQuoted(r, Number(button.dataset.replyTo)); break;
    default: break;
  }
});

els.log.addEventListener("keydown", (event) => {
  if (!openPicker || !openPicker.menu.contains(event.target)) return;
  const items = [...openPicker.menu.querySelectorAll("button")];
  const i = items.indexOf(event.target);
  const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  if (event.key in moves) {
    event.preventDefault();
    items[(i + moves[event.key] + items.length) % items.length].focus();
  } else if (event.key === "Home" || event.key === "End") {
    event.preventDefault();
    items[event.key === "Home" ? 0 : items.length - 1].focus();
  } else if (event.key === "Tab") {
    closePicker(false);
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (openPicker) {
    event.preventDefault();
    closePicker();
  } else if (state.replyTo && document.activeElement === els.message) {
    cancelReply();
  }
});

document.addEventListener("click", (event) => {
  if (openPicker && !openPicker.menu.contains(event.target) && event.target !== openPicker.button) closePicker(false);
});

els.log.addEventListener("scroll", () => {
  if (els.log.scrollTop < 40 && state.current) loadOlder(room(state.current));
});

els.rooms.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button || !state.client) return;
  const name = button.dataset.room;
  if (button.dataset.action === "leave-room") {
    state.client.leave(name).catch((error) => showError(state.current, error?.code, error?.message));
  } else if (room(name).joined) {
    showRoom(name);
  } else {
    joinRoom(name);
  }
});

async function joinRoom(name) {
  const r = room(name);
  try {
    if (!r.joined) await state.client.join(name);
    r.joined = true;
    saveRooms();
    showRoom(name);
  } catch (error) {
    showError(state.current, error?.code, error?.message);
  }
}

els.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = els.joinRoom.value.trim();
  if (!name || !state.client) return;
  els.joinRoom.value = "";
  joinRoom(name);
});

els.settings.addEventListener("submit", (event) => {
  event.preventDefault();
  connect();
});
els.disconnect.addEventListener("click", () => disconnect(true));
/** chatd says the credential's role in its welcome: a moderator's controls follow it, and
 * the "Moderator tools" switch is only offered by a chatd that does not say. */
function applyRole(/** @type {string | null | undefined} */ role) {
  const known = role === "user" || role === "moderator" || role === "admin";
  els.modTools.closest("label").hidden = known;
  document.body.classList.toggle("mod", known ? role !== "user" : els.modTools.checked);
}

els.modTools.addEventListener("change", () => {
  document.body.classList.toggle("mod", els.modTools.checked);
  localStorage.setItem("chatd.modTools", els.modTools.checked ? "1" : "0");
});
els.cancelReply.addEventListener("click", () => {
  cancelReply();
  els.message.focus();
});

els.message.addEventListener("input", () => {
  els.counter.textContent = `${els.message.value.length}/500`;
  if (els.message.value.trim() !== "" && state.client && state.current) state.client.typing(state.current);
});

els.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = els.message.value.trim();
  if (!text || !state.client || !state.current) return;
  const r = room(state.current);
  const opts = state.replyTo && state.replyTo.room === r.name ? { replyTo: state.replyTo.seq } : undefined;
  const client = state.client;
  client.send(r.name, text, opts).catch((error) => {
    // Closed by a Connect with other settings or by Disconnect: the text is back in the composer.
    if (error?.code === "closed" && client !== state.client) return;
    syncQueued();
    showError(r.name, error?.code, error?.message);
  });
  syncQueued();
  els.message.value = "";
  els.counter.textContent = "0/500";
  cancelReply();
});

connect();
