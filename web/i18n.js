// The page's words in English and Chinese, chosen by the browser's languages, and the
// translation of the English texts chatd itself sends (presence, the welcome).

// A space between a Latin name and the Chinese verb after it, none after a Chinese character.
const cjkSpace = (text) => (/[\u3400-\u9fff]$/u.test(text) ? "" : " ");

const STRINGS = {
  en: {
    title: "chatd", settings: "Connection", room: "Room", name: "Name", token: "Token",
    connect: "Connect", disconnect: "Disconnect", modTools: "Moderator tools",
    send: "Send", placeholder: "Write a message", messageLabel: "Message",
    rooms: "Rooms", joinRoom: "Join a room", join: "Join", roomName: "Room name",
    leave: (r) => `Leave ${r}`, notJoined: "not joined",
    unread: (n, capped) => `${capped ? "over " : ""}${n} unread`,
    messages: (r) => `Messages in ${r}`,
    offline: "offline", connecting: "connecting…", online: "online",
    waiting: (s) => `reconnecting in ${s} s`, retrying: "reconnecting…",
    closed: (reason) => (reason ? `closed: ${reason}` : "closed"),
    people: (n) => `${n} online`, seen: "Seen in this room", membersTitle: "In this room",
    connections: (name, n) => `${name} (${n} connections)`, more: "and more",
    elsewhere: (n) => `${n} on other servers`,
    membersNote: "Names seen in messages and joins; chatd does not list members.",
    typing1: (a) => `${a} is typing…`, typing2: (a, b) => `${a} and ${b} are typing…`,
    typingMany: (n) => `${n} people are typing…`,
    older: "Load earlier messages", loadingOlder: "Loading…", start: "This is the start of the room.",
    gap: "Some messages from while you were away could not be recovered.",
    missed: (n) => `${n} message${n === 1 ? " was" : "s were"} skipped: the connection fell behind.`,
    queued: "Not sent yet: it goes out when the connection is back.",
    unsentRestored: (n) => (n === 1 ? "A message was not sent: its text is back in the message box." : `${n} messages were not sent: their texts are back in the message box.`),
    reply: "Reply", react: "React", edit: "Edit", delete: "Delete", confirmDelete: "Delete?",
    save: "Save", cancel: "Cancel", edited: "edited", editLabel: "Edit message",
    replyingTo: (who) => `Replying to ${who}`, cancelReply: "Cancel reply",
    quoteMissing: (seq) => `message #${seq}`, quoteDeleted: "deleted message",
    reactWith: (e) => `React with ${e}`,
    reactionLabel: (e, n, mine) => `${e} ${n}${mine ? ", including you" : ""}`,
    actionsFor: (who) => `Actions for the message from ${who}`,
    newMessage: (who, text) => `${who}: ${text}`, deletedNote: "A message was deleted.",
    connectedAs: (n) => `connected as ${n}`,
    joined: (names) => `${names} joined`, left: (names) => `${names} left`,
    andOthers: (list, n) => `${list} and ${n} other${n === 1 ? "" : "s"}`,
    listJoin: (items) => (items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`),
    leftRoom: (r, reason) => `You left ${r}${reason && reason !== "request" ? ` (${reason})` : ""}.`,
    errors: {
      too_large: "The message is too long.", empty: "The message is empty.",
      muted: "You are muted in this chat.", read_only: "Only moderators may write in this room.",
      rejected: "The message was refused", forbidden: "Not allowed: only the author (for a few minutes) or a moderator may change this message.",
      not_found: "That message is no longer there.", rate_limited: "Too many messages. Wait a moment.",
      too_many_reactions: "This message has too many different reactions.",
      not_joined: "You are not in that room.", room_full: "That room is full.",
      too_many_rooms: "You are in too many rooms: leave one first.",
      unavailable: "The server could not store that. Try again.", bad_field: "The server did not accept that.",
      closed: "Not sent: the connection was closed.", offline: "Not connected: try again once online.",
      disconnected: "The connection dropped before chatd answered: try again.",
      timeout: "chatd did not answer in time: try again.",
    },
    errorOther: (code, msg) => `${msg || code}`,
  },
  zh: {
    title: "chatd 聊天", settings: "连接", room: "房间", name: "名称", token: "令牌",
    connect: "连接", disconnect: "断开", modTools: "管理员工具",
    send: "发送", placeholder: "输入消息", messageLabel: "消息",
    rooms: "房间", joinRoom: "加入房间", join: "加入", roomName: "房间名",
    leave: (r) => `离开 ${r}`, notJoined: "未加入",
    unread: (n, capped) => `${n}${capped ? "+" : ""} 条未读`,
    messages: (r) => `${r} 的消息`,
    offline: "离线", connecting: "连接中…", online: "在线",
    waiting: (s) => `${s} 秒后重连`, retrying: "重连中…",
    closed: (reason) => (reason ? `已关闭:${reason}` : "已关闭"),
    people: (n) => `${n} 人在线`, seen: "在本房间出现过", membersTitle: "房间成员",
    connections: (name, n) => `${name}(${n} 个连接)`, more: "还有更多",
    elsewhere: (n) => `另有 ${n} 人在其他服务器上`,
    membersNote: "根据消息和加入记录列出的名字;chatd 不提供成员列表。",
    typing1: (a) => `${a} 正在输入…`, typing2: (a, b) => `${a} 和 ${b} 正在输入…`,
    typingMany: (n) => `${n} 人正在输入…`,
    older: "加载更早的消息", loadingOlder: "加载中…", start: "这是房间的开头。",
    gap: "离线期间的部分消息无法找回。",
    missed: (n) => `连接跟不上,跳过了 ${n} 条消息。`,
    queued: "尚未发送:连接恢复后发出。",
    unsentRestored: (n) => `${n} 条消息未发出,文字已放回输入框。`,
    reply: "回复", react: "表情", edit: "编辑", delete: "删除", confirmDelete: "确认删除?",
    save: "保存", cancel: "取消", edited: "已编辑", editLabel: "编辑消息",
    replyingTo: (who) => `回复 ${who}`, cancelReply: "取消回复",
    quoteMissing: (seq) => `第 ${seq} 条消息`, quoteDeleted: "已删除的消息",
    reactWith: (e) => `用 ${e} 回应`,
    reactionLabel: (e, n, mine) => `${e} ${n}${mine ? ",包括你" : ""}`,
    actionsFor: (who) => `${who} 的消息的操作`,
    newMessage: (who, text) => `${who}:${text}`, deletedNote: "一条消息已被删除。",
    connectedAs: (n) => `已连接,名称为 ${n}`,
    joined: (names) => `${names}${cjkSpace(names)}加入了`, left: (names) => `${names}${cjkSpace(names)}离开了`,
    andOthers: (list, n) => `${list} 等另外 ${n} 人`,
    listJoin: (items) => (items.length < 2 ? items.join("") : `${items.slice(0, -1).join("、")} 和 ${items[items.length - 1]}`),
    leftRoom: (r, reason) => `你已离开 ${r}${reason && reason !== "request" ? `(${reason})` : ""}。`,
    errors: {
      too_large: "消息太长。", empty: "消息为空。", muted: "你已被禁言。",
      read_only: "只有管理员可以在此房间发言。", rejected: "消息被拒绝",
      forbidden: "不允许:只有作者(几分钟内)或管理员可以修改这条消息。",
      not_found: "这条消息已不存在。", rate_limited: "消息太多,请稍候。",
      too_many_reactions: "这条消息的表情种类太多。", not_joined: "你不在那个房间。",
      room_full: "那个房间已满。", too_many_rooms: "加入的房间太多:请先离开一个。",
      unavailable: "服务器暂时无法保存,请重试。", bad_field: "服务器不接受该请求。",
      closed: "未发送:连接已关闭。", offline: "未连接:请在连接恢复后重试。",
      disconnected: "服务器回复前连接已断开:请重试。", timeout: "服务器未及时回复:请重试。",
    },
    errorOther: (code, msg) => `${msg || code}`,
  },
};

/** "zh" or "en": the first of the browser's languages that the page has. */
export function pickLanguage(languages) {
  for (const tag of languages) {
    const primary = String(tag).toLowerCase().split("-")[0];
    if (primary === "zh" || primary === "en") return primary;
  }
  return "en";
}

export const lang = pickLanguage(navigator.languages?.length ? navigator.languages : [navigator.language || "en"]);
export const t = STRINGS[lang];
export const locale = lang === "zh" ? "zh-CN" : undefined;

const timeOnly = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" });
const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
const full = new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "medium" });

/** A message time in the reader's locale: the time alone for today, with the date otherwise. */
export function shortTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date();
  return date.toDateString() === today.toDateString() ? timeOnly.format(date) : dateTime.format(date);
}

export function longTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : full.format(date);
}

/** An error code (from chatd or ChatError) as a sentence for the reader. */
export function errorText(code, message) {
  if (code === "rejected" && message) return `${t.errors.rejected}: ${message}`;
  return t.errors[code] || t.errorOther(code, message);
}

// chatd's presence texts are English: "masa joined", "ann, bob, cy and 7 others joined",
// "dee and eve left", or a join part and a leave part separated by "; ".
const PRESENCE_PART = /^(.+) (joined|left)$/;

function parseNames(list) {
  let others = 0;
  let rest = list;
  const more = / and (\d+) others?$/.exec(rest);
  if (more) {
    others = Number(more[1]);
    rest = rest.slice(0, more.index);
  }
  const names = rest.split(", ");
  if (!more && names.length > 0) {
    const last = names.pop();
    const pair = last.split(" and ");
    names.push(...pair);
  }
  return { names: names.filter((n) => n !== ""), others };
}

/** The joins and leaves a presence text tells, or null when it is not one chatd's patterns. */
export function parsePresence(text) {
  if (typeof text !== "string" || text === "") return null;
  const parts = [];
  for (const part of text.split("; ")) {
    const m = PRESENCE_PART.exec(part);
    if (!m) return null;
    parts.push({ verb: m[2], ...parseNames(m[1]) });
  }
  return parts;
}

/** A presence text in the reader's language (chatd's own text when it is not understood). */
export function presenceText(text) {
  const parts = parsePresence(text);
  if (!parts) return String(text ?? "");
  if (lang === "en") return text;
  return parts
    .map(({ verb, names, others }) => {
      const list = others > 0 ? t.andOthers(names.join("、"), others) : t.listJoin(names);
      return verb === "joined" ? t.joined(list) : t.left(list);
    })
    .join(";");
}

/** A server system text in the reader's language, where it is one the page knows. */
export function systemText(text) {
  const m = /^connected as (.+)$/.exec(String(text ?? ""));
  if (m) return t.connectedAs(m[1]);
  return String(text ?? "");
}

export function applyLabels(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t[el.dataset.i18n];
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t[el.dataset.i18nPlaceholder];
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t[el.dataset.i18nLabel]);
  document.title = t.title;
}
