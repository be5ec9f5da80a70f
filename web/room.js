// The page's state of one room: its messages as shown, its read position and unread count.
import { t } from "./i18n.js";

/** What the page knows of one room. */
export class Room {
  constructor(name) {
    this.name = name;
    this.joined = false;
    this.messages = new Map(); // seq → Message, as shown
    this.nodes = new Map(); // seq → element
    this.quoted = new Map(); // seq → Message fetched only to quote it
    this.readSeq = 0;
    this.serverUnread = 0; // chatd's count up to serverLastSeq
    this.serverLastSeq = 0;
    this.capped = false;
    this.online = null;
    this.members = null; // chatd's answer to `members`, when it has one
    this.seen = new Map(); // name → true (joined), false (left), null (only seen posting)
    this.typing = new Map(); // name → timer
    this.complete = false; // the first message of the room is shown
    this.loadingOlder = false;
    this.el = document.createElement("div");
    this.el.className = "room-log";
    this.olderButton = document.createElement("button");
    this.olderButton.type = "button";
    this.olderButton.className = "older secondary";
    this.olderButton.dataset.action = "older";
    this.olderButton.textContent = t.older;
    this.el.append(this.olderButton);
  }

  oldestSeq() {
    let oldest = Infinity;
    for (const seq of this.messages.keys()) oldest = Math.min(oldest, seq);
    return oldest;
  }

  /** Unread messages: `isMine(m)` tells the reader's own, which never count. */
  unread(isMine) {
    if (!this.joined) return this.serverUnread;
    const counted = (after) => [...this.messages.values()].filter((m) => m.seq > after && !isMine(m)).length;
    // Everything after the read position is shown: count it here; otherwise take chatd's
    // count and add what came live after it.
    if (this.complete || this.readSeq + 1 >= this.oldestSeq()) return counted(this.readSeq);
    return this.serverUnread + counted(this.serverLastSeq);
  }

  renderOlder() {
    const b = this.olderButton;
    b.textContent = this.complete ? t.start : this.loadingOlder ? t.loadingOlder : t.older;
    b.classList.toggle("done", this.complete);
    b.disabled = this.complete || this.loadingOlder;
  }
}
