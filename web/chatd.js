// chatd.js — the browser client of chatd. An ES module with no dependencies and no build
// step: `import { ChatClient } from "/chatd.js"`. docs/client.md explains its use,
// docs/protocol.md the frames it speaks.
//
// What it adds to a bare WebSocket: reconnects with backoff that resume every room where the
// page left it (`since`), an offline queue whose messages are stored exactly once (nonces,
// kept in sessionStorage across reconnects and reloads), events delivered once, token
// refresh in band, and promises for requests.

/** @typedef {"connecting" | "open" | "waiting" | "closed"} ConnectionState */
/**
 * @typedef {{id: string, seq: number, room: string, from: string, text: string, sentAt: string,
 *   replyTo?: number, data?: unknown, editedAt?: string, reactions?: Record<string, number>,
 *   mine?: string[]}} Message
 */
/**
 * @typedef {{url?: string, token?: string, getToken?: () => string | Promise<string>,
 *   name?: string, rooms?: string[], storage?: Storage | null, storageKey?: string,
 *   maxBufferedAmount?: number, backoff?: {baseMs?: number, capMs?: number},
 *   autoConnect?: boolean, resumeOnLoad?: boolean, WebSocket?: typeof WebSocket}} ChatClientOptions
 */
/** @typedef {{nonce: string, room: string, text: string, replyTo?: number}} Queued */
/**
 * @typedef {{kind: string, frame: object, match: (e: any) => boolean, nonce: string, written: boolean,
 *   order: number, timer?: ReturnType<typeof setTimeout>, resolve: (v: any) => void,
 *   reject: (e: Error) => void}} Pending
 */

/** An error event of chatd answering one of our requests (`code` as in docs/protocol.md),
 * or the library's own: `offline`, `disconnected`, `closed`, `timeout`. */
export class ChatError extends Error {
  /** @param {string} code @param {string} [message] */
  constructor(code, message) {
    super(message || code);
    this.name = "ChatError";
    this.code = code;
  }
}

// A connection that stayed open this long was a success: the next drop starts backoff anew.
const STABLE_MS = 5000;
// chatd tells a room of a connection's typing at most once per 2 s; sending more only costs
// rate-limit tokens.
const TYPING_EVERY_MS = 2000;
// How often a send blocked by bufferedAmount looks again: the browser fires no event when
// its send buffer drains.
const DRAIN_POLL_MS = 50;
// After `rate_limited`, resend the unacknowledged messages this much later (nonces make the
// resend safe).
const RATE_RETRY_MS = 1500;
// Messages sent ahead of their acknowledgement. Bounded so that a long offline queue does not
// meet the rate limit all at once (many frames refused in a row close the connection); one
// at a time after a `rate_limited`, until the queue is empty, so that they stay in order.
const MAX_IN_FLIGHT = 8;
// A request's answer may be lost (a frame refused by the rate limit that could not be
// attributed): its promise is rejected with `timeout` rather than left pending for ever.
const REQUEST_TIMEOUT_MS = 20000;
// chatd answers `members` at most once per 2 s per connection (more are refused with
// `rate_limited`): members() waits out the rest and asks once for all its callers.
const MEMBERS_EVERY_MS = 2000;

/** A short, non-cryptographic hash (FNV-1a, 32 bits) that keeps storage keys of different
 * identities apart without putting the token itself in a key. @param {string} text */
function shortHash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

function newNonce() {
  // getRandomValues, unlike randomUUID, also works outside secure contexts (plain http).
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function defaultStorage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled (sandboxed frame, privacy settings): memory only
  }
}

export class ChatClient extends EventTarget {
  /** @param {ChatClientOptions} [options] */
  constructor(options = {}) {
    super();
    this.options = options;
    const loc = globalThis.location;
    this.url = options.url ?? `${loc?.protocol === "https:" ? "wss" : "ws"}://${loc?.host}/chat`;
    this.storage = options.storage === undefined ? defaultStorage() : options.storage;
    // The stored queue and marks belong to one identity: a reload of the tab as another
    // name (or with another token) must not send the first one's messages as its own.
    this.key = options.storageKey ?? `chatd:${this.url}|${options.name ?? ""}|${shortHash(options.token ?? "")}:`;
    this.maxBuffered = options.maxBufferedAmount ?? 65536;
    this.baseMs = options.backoff?.baseMs ?? 500;
    this.capMs = options.backoff?.capMs ?? 10000;
    this.WS = options.WebSocket ?? globalThis.WebSocket;
    this.token = options.token;

    /** @type {ConnectionState} */ this._state = "closed";
    /** @type {string | null} */ this.clientId = null;
    /** The credential's role from the welcome (`user`, `moderator`, `admin`); null from a chatd that does not say.
     * @type {string | null} */ this.role = null;
    /** @type {string | null} */ this.name = null;
    /** @type {WebSocket | null} */ this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.openedAt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */ this.retryTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */ this.flushTimer = undefined;

    // Rooms the application wants to be in, in order (the first is the upgrade room), and
    // those chatd has welcomed us to on this connection.
    this.wanted = [...new Set(options.rooms?.length ? options.rooms : ["lobby"])];
    /** @type {Set<string>} */ this.joined = new Set();
    // Whether a room was already welcomed on an earlier connection of this client: only
    // then is a reconnect a resume (see resumeOnLoad for the first connection).
    /** @type {Set<string>} */ this.seen = new Set();
    /** @type {Set<string>} rooms asked with `since` on this connection */ this.resuming = new Set();

    // Per room: `seq`, the highest message number delivered, and `pos`, the highest number
    // of the room's log delivered (messages, edits, deletions and reaction changes share
    // one numbering). Everything at or below `pos` was delivered and is dropped; `pos` is
    // the `since` of a resume.
    /** @type {Record<string, {seq: number, pos: number}>} */
    this.marks = this.load("marks", {});
    if (options.resumeOnLoad) for (const room of Object.keys(this.marks)) this.seen.add(room);

    // The offline queue: messages not yet known to be stored, oldest first, with their
    // nonces. Kept in storage, so a reload sends them again with the same nonce.
    /** @type {Queued[]} */ this.queue = this.load("queue", []);
    // Nonces of the queue sent on this connection and unanswered, with their place among
    // the requests sent (chatd answers in order).
    /** @type {Map<string, number>} */ this.inFlight = new Map();
    this.order = 0;
    this.window = MAX_IN_FLIGHT;
    this.pausedUntil = 0;
    /** @type {Map<string, {resolve: (m: Message) => void, reject: (e: Error) => void}>} */
    this.sendPromises = new Map();
    // chatd's `sent` names the seq of each of our messages (matching our broadcast by author
    // and text would take another tab's message of the same name and text for ours).
    /** @type {Map<string, string>} "room:seq" → nonce, acknowledged before the broadcast */
    this.ackedSeq = new Map();
    /** @type {Map<string, Message>} "room:seq" → the last messages delivered, for late acks */
    this.recent = new Map();

    // Requests other than messages, waiting for their answer: in order per kind, as chatd
    // answers a connection's requests in order. Errors name the request's nonce.
    /** @type {Pending[]} */
    this.requests = [];
    /** @type {Map<string, number>} */ this.typingSent = new Map();
    this.membersAt = 0; // when `members` was last written on this connection
    /** @type {Map<string, Promise<any>>} room → the members() waiting for its turn */ this.membersLater = new Map();
    // Read positions per room: the highest asked for, the highest chatd stored, and whether
    // a `read` is on its way (chatd merges them anyway; this saves the rate limit).
    /** @type {Map<string, {want: number, stored: number, busy: boolean}>} */ this.reads = new Map();

    // After the constructor's caller has added its listeners: they see the first `status`.
    if (options.autoConnect !== false) queueMicrotask(() => this.stopped || this.connect());
  }

  /** @returns {ConnectionState} */
  get state() {
    return this._state;
  }

  /** @returns {string[]} */
  get rooms() {
    return this.wanted.filter((room) => this.joined.has(room));
  }

  /** Messages sent and not yet known to be stored, oldest first (a copy).
   * @returns {{room: string, text: string, nonce: string, replyTo?: number}[]} */
  get queued() {
    return this.queue.map((q) => ({ ...q }));
  }

  /** @param {string} room */
  lastSeq(room) {
    return this.marks[room]?.seq ?? 0;
  }

  /** @param {string} type @param {(detail: any) => void} listener */
  on(type, listener) {
    const handler = (/** @type {Event} */ e) => listener(/** @type {CustomEvent} */ (e).detail);
    this.addEventListener(type, handler);
    return () => this.removeEventListener(type, handler);
  }

  // ---- connection -------------------------------------------------------------------------

  connect() {
    if (this.ws || this._state === "connecting") return;
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.open();
  }

  /** While waiting to reconnect: connect now, without the rest of the backoff delay. The
   * queue is kept. Nothing to do while connecting or open, or after close(). */
  reconnectNow() {
    if (this.stopped) return;
    this.connect();
  }

  close() {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.stop({});
  }

  /** For good: by close(), or told by chatd. Unsent messages are dropped, not kept for a
   * later page to send. @param {{code?: number, reason?: string}} detail */
  stop(detail) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.flushTimer);
    this.failRequests("closed");
    for (const [, p] of this.sendPromises) p.reject(new ChatError("closed", "the client was closed"));
    this.sendPromises.clear();
    this.queue = [];
    this.save("queue", this.queue);
    this.setState("closed", detail);
  }

  async open() {
    this.setState("connecting", { attempt: this.attempt });
    if (this.options.getToken) {
      try {
        // Asked before every connect: a refused upgrade (an expired token; browsers do not
        // tell why) is thus retried with a fresh one.
        this.token = await this.options.getToken();
      } catch (err) {
        this.emit("error", { code: "token", message: String(err) });
        return this.retry({});
      }
      if (this.stopped) return;
    }
    const upgradeRoom = this.wanted[0];
    const query = new URLSearchParams();
    if (this.options.name) query.set("name", this.options.name);
    if (upgradeRoom) query.set("room", upgradeRoom);
    this.resuming.clear();
    if (upgradeRoom && this.seen.has(upgradeRoom) && this.marks[upgradeRoom]) {
      query.set("since", String(this.marks[upgradeRoom].pos));
      this.resuming.add(upgradeRoom);
    }
    const protocols = this.token ? ["chatd", "bearer." + this.token] : undefined;
    let ws;
    try {
      ws = new this.WS(`${this.url}?${query}`, protocols);
    } catch (err) {
      this.emit("error", { code: "connect", message: String(err) });
      return this.retry({});
    }
    this.ws = ws;
    ws.onmessage = (e) => this.ws === ws && this.receive(e.data);
    ws.onclose = (e) => this.ws === ws && this.dropped(e.code, e.reason);
  }

  /** @param {number} code @param {string} reason */
  dropped(code, reason) {
    this.ws = null;
    this.joined.clear();
    this.inFlight.clear();
    this.pausedUntil = 0; // the rate limit is the connection's
    this.membersAt = 0;
    this.reads.forEach((r) => (r.busy = false));
    clearTimeout(this.flushTimer);
    this.failRequests("disconnected", (r) => r.written);
    if (this.openedAt && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.openedAt = 0;
    // 1008 is a policy decision (kicked, banned, revoked): coming back would be refused or
    // undo it. An expired token is the exception when the page can fetch another.
    const expired = reason === "credential expired" && this.options.getToken;
    if (code === 1008 && !expired) return this.stop({ code, reason });
    this.retry({ code, reason });
  }

  /** @param {{code?: number, reason?: string}} why */
  retry(why) {
    this.ws = null;
    if (this.stopped) return;
    // Full jitter: a server restart does not see all its clients come back at once.
    const delayMs = Math.round(Math.random() * Math.min(this.capMs, this.baseMs * 2 ** this.attempt));
    this.attempt++;
    this.setState("waiting", { attempt: this.attempt, delayMs, ...why });
    this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  /** @param {ConnectionState} state @param {object} detail */
  setState(state, detail) {
    this._state = state;
    this.emit("status", { state, ...detail });
  }

  /** @param {string} type @param {any} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @param {object} frame */
  write(frame) {
    if (this.ws?.readyState !== 1) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // ---- what chatd sends -------------------------------------------------------------------

  /** @param {string} data */
  receive(data) {
    let e;
    try {
      e = JSON.parse(data);
    } catch {
      return;
    }
    switch (e.type) {
      case "system":
        if (e.clientId && this._state !== "open") return this.welcomed(e);
        return this.emit("system", { message: e.message });
      case "history":
        return e.before !== undefined ? this.answer("history", e) : this.history(e);
      case "message":
        return this.message(e.message, e.duplicate ? e.nonce : undefined);
      case "sent":
        return this.acknowledged(e);
      case "edited":
        this.answer("edit", e);
        return this.change("edited", e, { text: e.text, editedAt: e.editedAt, by: e.by });
      case "deleted":
        this.answer("delete", e);
        return this.change("deleted", e, {});
      case "reactions":
        this.answer("react", e);
        return this.change("reactions", e, reactionDetail(e, this.name));
      case "joined":
        return this.emit("joined", { room: e.room });
      case "left":
        this.joined.delete(e.room);
        if (e.reason === "forbidden") this.wanted = this.wanted.filter((r) => r !== e.room);
        this.answer("leave", e);
        return this.emit("left", { room: e.room, reason: e.reason });
      case "read":
        return this.readAnswered(e);
      case "unread":
        return this.emit("unread", pick(e, ["room", "readSeq", "unread", "lastSeq", "unreadCapped"]));
      case "rooms":
        return this.answer("rooms", e);
      case "versions":
        return this.answer("versions", e);
      case "members":
        return this.answer("members", e);
      case "presence":
        return this.emit("presence", { room: e.room, message: e.message, online: e.online });
      case "typing":
        return this.emit("typing", { room: e.room, from: e.from });
      case "expiring":
        return this.expiring(e);
      case "refreshed":
        return this.emit("refreshed", { exp: e.exp });
      case "missed":
        return this.emit("missed", { room: e.room, count: e.count });
      case "error":
        return this.failed(e);
    }
  }

  /** The `system` event that opens a connection: we are in. */
  welcomed(/** @type {any} */ e) {
    this.clientId = e.clientId;
    this.role = e.role ?? null;
    this.name = /^connected as (.*)$/.exec(e.message)?.[1] ?? this.name;
    this.openedAt = Date.now();
    this.setState("open", {});
    this.emit("welcome", { clientId: this.clientId, name: this.name, role: this.role, message: e.message });
    // chatd answers a connection's requests in order: the joins go first, so the queued
    // messages of those rooms find them joined.
    const joining = (/** @type {string} */ room) => this.requests.some((r) => !r.written && r.kind === "join" && r.match({ room }));
    for (const room of this.wanted.slice(1)) {
      if (joining(room)) continue; // joined by its own request, below
      const since = this.seen.has(room) && this.marks[room] ? this.marks[room].pos : undefined;
      if (since !== undefined) this.resuming.add(room);
      this.write(since === undefined ? { type: "join", room } : { type: "join", room, since });
    }
    // Requests made while offline (joins) go out now, behind the rejoins.
    for (const r of this.requests) if (!r.written) this.writeRequest(r);
    for (const [room, r] of this.reads) if (r.want > r.stored) this.sendRead(room, r);
    this.flush();
  }

  /** A room's welcome or resume: apply what it holds, in log order, then tell the page. */
  history(/** @type {any} */ e) {
    const room = e.room;
    const resumed = this.resuming.delete(room);
    this.joined.add(room);
    this.seen.add(room);
    /** @type {Message[]} */
    const messages = e.messages ?? [];
    const fresh = !(resumed && e.recovered);
    if (fresh) {
      // A fresh window (first connection, or a gap chatd could not fill) replaces what the
      // page shows: the marks start over from its newest message.
      const top = messages.reduce((n, m) => Math.max(n, m.seq), 0);
      this.marks[room] = { seq: top, pos: top };
    } else {
      // Exactly what came after `since` (our pos): first the changes to messages the page
      // has, as events, then the new messages.
      const since = this.marks[room]?.pos ?? 0;
      for (const x of e.edits ?? []) this.change("edited", { room, ...x }, { text: x.text, editedAt: x.editedAt, by: x.by }, since);
      for (const x of e.deleted ?? []) this.change("deleted", { room, ...x }, {}, since);
      for (const x of e.reactions ?? []) this.change("reactions", { room, ...x }, reactionDetail(x, this.name), since);
      const mark = (this.marks[room] ??= { seq: 0, pos: 0 });
      for (const m of messages) {
        mark.seq = Math.max(mark.seq, m.seq);
        mark.pos = Math.max(mark.pos, m.seq);
      }
    }
    this.save("marks", this.marks);
    for (const m of messages) this.remember(m);
    /** @type {any} */
    const detail = { room, messages, resumed };
    if (e.recovered !== undefined) detail.recovered = e.recovered;
    this.emit("history", detail);
    // Only acknowledged seqs settle sends here: an old message of ours with the same text
    // is not the one in flight.
    for (const m of messages) this.settleAcknowledged(m);
    this.answer("join", e);
  }

  /** A live message, or a `duplicate` answer to a resend, naming its nonce. */
  message(/** @type {Message} */ m, /** @type {string | undefined} */ duplicateOf) {
    if (!m || typeof m.seq !== "number") return;
    // A duplicate answer is not news: the message reached us, or will, by its broadcast or
    // a resume, in its place among the room's others.
    if (duplicateOf) return this.settle(duplicateOf, m);
    const mark = (this.marks[m.room] ??= { seq: 0, pos: 0 });
    if (m.seq > mark.pos) {
      mark.pos = m.seq;
      mark.seq = Math.max(mark.seq, m.seq);
      this.save("marks", this.marks);
      this.remember(m);
      this.emit("message", { message: m });
    }
    this.settleAcknowledged(m);
  }

  /**
   * An edit, deletion or reaction change: fired once, by its own number in the room's log.
   * @param {string} type @param {any} e @param {object} extra @param {number} [below] the pos
   *   to compare with, when a resume applies a batch before moving the mark
   */
  change(type, e, extra, below) {
    const mark = (this.marks[e.room] ??= { seq: 0, pos: 0 });
    if (typeof e.at === "number" && e.at <= (below ?? mark.pos)) return;
    if (typeof e.at === "number") mark.pos = Math.max(mark.pos, e.at);
    this.save("marks", this.marks);
    this.emit(type, { room: e.room, seq: e.seq, id: e.id, ...extra, at: e.at });
  }

  // ---- sending messages -------------------------------------------------------------------

  /**
   * Sends a message; resolves with it once stored, exactly once, however many reconnects it
   * takes (it is queued, and resent with the same nonce until chatd has it).
   * @param {string} room @param {string} text @param {{replyTo?: number}} [opts]
   * @returns {Promise<Message>}
   */
  send(room, text, opts = {}) {
    if (this.stopped && this._state === "closed") return Promise.reject(new ChatError("closed"));
    /** @type {Queued} */
    const item = { nonce: newNonce(), room, text };
    if (opts.replyTo !== undefined) item.replyTo = opts.replyTo;
    const promise = new Promise((resolve, reject) => this.sendPromises.set(item.nonce, { resolve, reject }));
    this.queue.push(item);
    this.save("queue", this.queue);
    this.flush();
    return /** @type {Promise<Message>} */ (promise);
  }

  /** Sends the queue's unsent messages, in order, while the socket takes them. */
  flush() {
    clearTimeout(this.flushTimer);
    if (this._state !== "open") return;
    const pause = this.pausedUntil - Date.now();
    if (pause > 0) {
      this.flushTimer = setTimeout(() => this.flush(), pause);
      return;
    }
    for (const item of this.queue) {
      if (this.inFlight.has(item.nonce)) continue;
      if (this.inFlight.size >= this.window) return; // each answer sends the next
      if (!this.ws || this.ws.readyState !== 1) return;
      if (this.ws.bufferedAmount > this.maxBuffered) {
        // A socket that does not drain (a slow link) would otherwise grow without bound.
        this.flushTimer = setTimeout(() => this.flush(), DRAIN_POLL_MS);
        return;
      }
      /** @type {any} */
      const frame = { type: "message", room: item.room, text: item.text, nonce: item.nonce };
      if (item.replyTo !== undefined) frame.replyTo = item.replyTo;
      this.write(frame);
      this.inFlight.set(item.nonce, ++this.order);
    }
  }

  /** `{"type":"sent"}`: chatd stored our message with this nonce as `seq`. */
  acknowledged(/** @type {any} */ e) {
    const stored = this.recent.get(`${e.room}:${e.seq}`);
    if (stored) this.settle(e.nonce, stored);
    else this.ackedSeq.set(`${e.room}:${e.seq}`, e.nonce); // its broadcast is still to come
  }

  /** A message delivered after its `sent`: the send it settles, if any. @param {Message} m */
  settleAcknowledged(m) {
    const key = `${m.room}:${m.seq}`;
    const nonce = this.ackedSeq.get(key);
    if (nonce === undefined) return;
    this.ackedSeq.delete(key);
    this.settle(nonce, m);
  }

  /** @param {string} nonce @param {Message} m */
  settle(nonce, m) {
    const i = this.queue.findIndex((q) => q.nonce === nonce);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.save("queue", this.queue);
    this.inFlight.delete(nonce);
    this.sendPromises.get(nonce)?.resolve(m);
    this.sendPromises.delete(nonce);
    if (!this.queue.length) this.window = MAX_IN_FLIGHT;
    this.flush();
  }

  /** @param {Message} m */
  remember(m) {
    this.recent.set(`${m.room}:${m.seq}`, m);
    if (this.recent.size > 500) this.recent.delete(this.recent.keys().next().value ?? "");
  }

  // ---- requests with answers ---------------------------------------------------------------

  /**
   * @param {string} kind the answer's kind @param {object} frame @param {(e: any) => boolean} match
   * @returns {Promise<any>}
   */
  request(kind, frame, match, { whenOffline = "reject" } = {}) {
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const r = { kind, frame, match, nonce: newNonce(), written: false, order: 0, resolve, reject };
      if (this._state === "open") this.writeRequest(r);
      if (!r.written && whenOffline === "reject") return reject(new ChatError("offline", "not connected"));
      this.requests.push(r);
    });
  }

  /** @param {Pending} r */
  writeRequest(r) {
    r.written = this.write({ ...r.frame, nonce: r.nonce });
    if (!r.written) return;
    r.order = ++this.order;
    r.timer = setTimeout(() => this.settleRequest(r, new ChatError("timeout", "no answer from chatd")), REQUEST_TIMEOUT_MS);
  }

  /** @param {Pending} r @param {any} outcome an answer, or the ChatError to reject with */
  settleRequest(r, outcome) {
    const i = this.requests.indexOf(r);
    if (i < 0) return;
    this.requests.splice(i, 1);
    clearTimeout(r.timer);
    if (outcome instanceof ChatError) r.reject(outcome);
    else r.resolve(outcome);
  }

  /** Settles the oldest request of `kind` that `e` answers. @param {string} kind @param {any} e */
  answer(kind, e) {
    const r = this.requests.find((r) => r.kind === kind && r.match(e));
    if (r) this.settleRequest(r, e);
  }

  /** @param {string} code @param {(r: Pending) => boolean} [which] */
  failRequests(code, which = () => true) {
    for (const r of this.requests.filter(which)) this.settleRequest(r, new ChatError(code, "the connection closed before the answer"));
  }

  /** @param {string} room @param {number} seq @param {string} text @returns {Promise<void>} */
  edit(room, seq, text) {
    return this.request("edit", { type: "edit", room, seq, text }, (e) => e.room === room && e.seq === seq).then(() => {});
  }

  /** @param {string} room @param {number} seq @returns {Promise<void>} */
  delete(room, seq) {
    return this.request("delete", { type: "delete", room, seq }, (e) => e.room === room && e.seq === seq).then(() => {});
  }

  /** @param {string} room @param {number} seq @param {string} emoji @returns {Promise<void>} */
  react(room, seq, emoji) {
    return this.reaction("react", room, seq, emoji, true);
  }

  /** @param {string} room @param {number} seq @param {string} emoji @returns {Promise<void>} */
  unreact(room, seq, emoji) {
    return this.reaction("unreact", room, seq, emoji, false);
  }

  /** @param {string} type @param {string} room @param {number} seq @param {string} emoji @param {boolean} added */
  reaction(type, room, seq, emoji, added) {
    const match = (/** @type {any} */ e) => e.room === room && e.seq === seq && e.emoji === emoji && e.added === added;
    return this.request("react", { type, room, seq, emoji }, match).then(() => {});
  }

  /** @param {string} room @param {{since?: number}} [opts] @returns {Promise<void>} */
  join(room, opts = {}) {
    if (!this.wanted.includes(room)) this.wanted.push(room);
    /** @type {any} */
    const frame = { type: "join", room };
    if (opts.since !== undefined) frame.since = opts.since;
    // Resolved by the room's history, which follows `joined`; offline, at the next welcome.
    return this.request("join", frame, (e) => e.room === room, { whenOffline: "wait" }).then(
      () => {},
      (err) => {
        if (err.code !== "disconnected") this.wanted = this.wanted.filter((r) => r !== room);
        throw err;
      },
    );
  }

  /** @param {string} room @returns {Promise<void>} */
  leave(room) {
    this.wanted = this.wanted.filter((r) => r !== room);
    if (!this.joined.has(room)) return Promise.resolve();
    return this.request("leave", { type: "leave", room }, (e) => e.room === room).then(() => {});
  }

  /** @param {string} room @param {number} before @param {number} [limit] @returns {Promise<Message[]>} */
  older(room, before, limit = 50) {
    const frame = { type: "history", room, before, limit };
    return this.request("history", frame, (e) => e.room === room && e.before === before).then((e) => e.messages);
  }

  /** @returns {Promise<any[]>} */
  listRooms() {
    return this.request("rooms", { type: "rooms" }, () => true).then((e) => e.rooms);
  }

  /** @param {string} room @param {number} seq @returns {Promise<any[]>} */
  versions(room, seq) {
    return this.request("versions", { type: "versions", room, seq }, (e) => e.room === room && e.seq === seq).then((e) => e.versions);
  }

  /** Who is in the room: display names on this node, and counts across nodes.
   * @param {string} room
   * @returns {Promise<{members: {name: string, connections: number}[], online: number, elsewhere: number, truncated?: boolean}>} */
  members(room, retried = false) {
    const wait = this.membersAt + MEMBERS_EVERY_MS - Date.now();
    if (wait > 0 && this._state === "open") {
      let later = this.membersLater.get(room);
      if (!later) {
        later = new Promise((resolve) => setTimeout(resolve, wait)).then(() => {
          this.membersLater.delete(room);
          return this.members(room);
        });
        this.membersLater.set(room, later);
      }
      return later;
    }
    if (this._state === "open") this.membersAt = Date.now();
    return this.request("members", { type: "members", room }, (e) => e.room === room).then((e) => {
      // chatd counts its 2 s from when it took the request, which is after we sent it: counted
      // from the answer, the next one cannot arrive early however the network delays them.
      this.membersAt = Date.now();
      return pick(e, ["members", "online", "elsewhere", "truncated"]);
    }, (/** @type {any} */ err) => {
      // Refused as too soon all the same (a clock that jumped): once more, a turn later.
      if (err?.code !== "rate_limited" || retried) throw err;
      this.membersAt = Date.now();
      return this.members(room, true);
    });
  }

  // ---- fire-and-forget ---------------------------------------------------------------------

  /** @param {string} room */
  typing(room) {
    const now = Date.now();
    if (now - (this.typingSent.get(room) ?? -Infinity) < TYPING_EVERY_MS) return;
    if (this.write({ type: "typing", room })) this.typingSent.set(room, now);
  }

  /** Moves the read position forward; one `read` in flight per room, the highest wins.
   * @param {string} room @param {number} seq */
  markRead(room, seq) {
    const r = this.readPosition(room);
    if (seq <= r.want) return;
    r.want = seq;
    if (!r.busy) this.sendRead(room, r);
  }

  /** @param {string} room */
  readPosition(room) {
    let r = this.reads.get(room);
    if (!r) this.reads.set(room, (r = { want: 0, stored: 0, busy: false }));
    return r;
  }

  /** @param {string} room @param {{want: number, stored: number, busy: boolean}} r */
  sendRead(room, r) {
    r.busy = this._state === "open" && this.write({ type: "read", room, seq: r.want });
  }

  /** A stored position: ours answered, or another tab's. @param {any} e */
  readAnswered(e) {
    const r = this.readPosition(e.room);
    r.stored = Math.max(r.stored, e.seq);
    r.want = Math.max(r.want, e.seq);
    r.busy = false;
    // Asked for more meanwhile: one more `read`, with the highest.
    if (r.want > r.stored) this.sendRead(e.room, r);
    this.emit("read", { room: e.room, seq: e.seq });
  }

  // ---- tokens and errors -------------------------------------------------------------------

  /** @param {any} e */
  async expiring(e) {
    this.emit("expiring", { in: e.in });
    if (!this.options.getToken) return;
    try {
      this.token = await this.options.getToken();
      this.write({ type: "refresh", token: this.token });
    } catch (err) {
      this.emit("error", { code: "token", message: String(err) });
    }
  }

  /** @param {any} e */
  failed(e) {
    const error = new ChatError(e.code, e.message);
    if (e.nonce !== undefined) {
      const item = this.queue.find((q) => q.nonce === e.nonce);
      if (item) return this.messageFailed(item, error);
      const r = this.requests.find((r) => r.nonce === e.nonce);
      if (r) return this.settleRequest(r, error);
    }
    if (e.code === "rate_limited" && this.rateLimited(error)) return;
    this.emit("error", { code: e.code, message: e.message });
  }

  /**
   * `rate_limited` names no nonce (chatd did not read the refused frame), but answers keep
   * their order: the refused frame is the oldest request still unanswered.
   * @param {ChatError} error @returns {boolean} whether it was one of ours
   */
  rateLimited(error) {
    const request = this.requests.filter((r) => r.written).sort((a, b) => a.order - b.order)[0];
    const message = Math.min(...this.inFlight.values());
    if (request && request.order < message) this.settleRequest(request, error);
    else if (this.inFlight.size) this.resendLater();
    else return false;
    return true;
  }

  /** @param {Queued} item @param {ChatError} error */
  messageFailed(item, error) {
    this.queue.splice(this.queue.indexOf(item), 1);
    this.save("queue", this.queue);
    this.inFlight.delete(item.nonce);
    this.sendPromises.get(item.nonce)?.reject(error);
    this.sendPromises.delete(item.nonce);
    this.flush();
  }

  resendLater() {
    // Resending every unacknowledged message is safe: chatd answers a nonce it has with
    // `duplicate` and stores nothing.
    this.inFlight.clear();
    this.window = 1;
    this.pausedUntil = Date.now() + RATE_RETRY_MS;
    this.flush();
  }

  // ---- storage -----------------------------------------------------------------------------

  /** @param {string} name @param {any} fallback */
  load(name, fallback) {
    try {
      const raw = this.storage?.getItem(this.key + name);
      return raw ? JSON.parse(raw) : fallback;
    } catch {
      return fallback;
    }
  }

  /** @param {string} name @param {any} value */
  save(name, value) {
    try {
      this.storage?.setItem(this.key + name, JSON.stringify(value));
    } catch {
      // Full or disabled storage: the client still works, it only forgets across reloads.
    }
  }
}

/** @param {any} e @param {string | null} name */
function reactionDetail(e, name) {
  return { counts: e.counts, emoji: e.emoji, added: e.added, by: e.by, mine: e.by === name };
}

/** @param {any} e @param {string[]} keys */
function pick(e, keys) {
  /** @type {any} */
  const out = {};
  for (const k of keys) if (e[k] !== undefined) out[k] = e[k];
  return out;
}
