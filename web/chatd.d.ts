// Types of chatd.js, the browser client of chatd (docs/client.md).

export type Role = "user" | "moderator" | "admin";
export type ConnectionState = "connecting" | "open" | "waiting" | "closed";

export interface Message {
  id: string;
  seq: number;
  room: string;
  from: string;
  text: string;
  sentAt: string;
  replyTo?: number;
  data?: unknown;
  editedAt?: string;
  reactions?: Record<string, number>;
  mine?: string[];
}

export interface ChatClientOptions {
  /** Default: ws(s)://location.host/chat. */
  url?: string;
  /** Sent as the subprotocols ["chatd", "bearer." + token], never in the URL. */
  token?: string;
  /** Asked before every connect and on `expiring`; replaces `token`. */
  getToken?: () => string | Promise<string>;
  /** Display name (?name=), used when the credential allows guest names. */
  name?: string;
  /** Rooms to be in; the first is the upgrade room. Default ["lobby"]. */
  rooms?: string[];
  /** Default sessionStorage: last seq per room and the unsent queue. null: memory only. */
  storage?: Storage | null;
  /** Prefix of the storage keys (queue and marks). Default "chatd:" + url + name + a short hash
   * of token: each identity its own. One per client when a page has several. */
  storageKey?: string;
  /** Default 65536: queued messages wait while ws.bufferedAmount is above it. */
  maxBufferedAmount?: number;
  /** Full jitter, default base 500 ms, cap 10000 ms. */
  backoff?: { baseMs?: number; capMs?: number };
  /** Default true: connect as soon as constructed (after the constructor returns). */
  autoConnect?: boolean;
  /** Default false: the first connection also resumes from the stored seqs (for pages that
   * keep the messages themselves across reloads); otherwise it starts with a fresh window. */
  resumeOnLoad?: boolean;
  /** The WebSocket class to use, default globalThis.WebSocket. */
  WebSocket?: typeof WebSocket;
}

export interface RoomInfo {
  room: string;
  readSeq: number;
  unread: number;
  lastSeq?: number;
  joined: boolean;
  unreadCapped?: boolean;
}

export interface QueuedMessage {
  room: string;
  text: string;
  nonce: string;
  replyTo?: number;
}

export interface StatusDetail {
  state: ConnectionState;
  attempt?: number;
  delayMs?: number;
  code?: number;
  reason?: string;
}

export interface ChatEvents {
  status: StatusDetail;
  welcome: { clientId: string; name: string; role: Role | null; message: string };
  history: { room: string; messages: Message[]; recovered?: boolean; resumed: boolean };
  message: { message: Message };
  edited: { room: string; seq: number; id: string; text: string; editedAt: string; by: string; at: number };
  deleted: { room: string; seq: number; id: string; at: number };
  reactions: {
    room: string; seq: number; id: string; counts: Record<string, number>; emoji: string; added: boolean;
    by: string; at: number; mine: boolean;
  };
  typing: { room: string; from: string };
  presence: { room: string; message: string; online: number };
  read: { room: string; seq: number };
  unread: { room: string; readSeq: number; unread: number; lastSeq: number; unreadCapped?: boolean };
  joined: { room: string };
  left: { room: string; reason: string };
  system: { message: string };
  error: { code: string; message: string };
  expiring: { in: number };
  refreshed: { exp: number };
  missed: { room: string; count: number };
}

export class ChatClient extends EventTarget {
  constructor(options?: ChatClientOptions);
  readonly state: ConnectionState;
  /** From the welcome `system` event. */
  readonly clientId: string | null;
  /** The credential's role, from the welcome (null from a chatd that does not say). */
  readonly role: Role | null;
  /** The name chatd uses for us ("connected as NAME"). */
  readonly name: string | null;
  /** Rooms currently joined (welcomed). */
  readonly rooms: string[];
  /** Messages sent and not yet known to be stored, oldest first (a copy). */
  readonly queued: QueuedMessage[];
  /** Highest message seq seen in the room (kept in storage). */
  lastSeq(room: string): number;
  connect(): void;
  /** While waiting to reconnect: connect now, without the rest of the backoff delay; the
   * queue is kept. Nothing to do while connecting or open, or after close(). */
  reconnectNow(): void;
  /** No reconnect after this; unsent messages are dropped and their sends rejected ("closed"). */
  close(): void;
  send(room: string, text: string, opts?: { replyTo?: number; data?: never }): Promise<Message>;
  edit(room: string, seq: number, text: string): Promise<void>;
  delete(room: string, seq: number): Promise<void>;
  react(room: string, seq: number, emoji: string): Promise<void>;
  unreact(room: string, seq: number, emoji: string): Promise<void>;
  /** Throttled to one per 2 s per room. */
  typing(room: string): void;
  /** Coalesced; only forward. */
  markRead(room: string, seq: number): void;
  join(room: string, opts?: { since?: number }): Promise<void>;
  leave(room: string): Promise<void>;
  older(room: string, before: number, limit?: number): Promise<Message[]>;
  listRooms(): Promise<RoomInfo[]>;
  versions(room: string, seq: number): Promise<{ text: string; replacedBy: string; replacedAt: string }[]>;
  /** Who is in the room: names on this node (at most 200), counts across nodes. At most one
   * request per 2 s is sent (chatd's limit); calls meanwhile wait and share one answer per room. */
  members(room: string): Promise<{
    members: { name: string; connections: number }[]; online: number; elsewhere: number; truncated?: boolean;
  }>;
  on<K extends keyof ChatEvents>(type: K, listener: (detail: ChatEvents[K]) => void): () => void;
  on(type: string, listener: (detail: any) => void): () => void;
}

/** An `error` answering a request (code as in docs/protocol.md), or the library's own:
 * `offline`, `disconnected`, `closed`, `timeout`. */
export class ChatError extends Error {
  code: string;
  constructor(code: string, message?: string);
}
