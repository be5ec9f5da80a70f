// One message as DOM. Every text from the server goes through textContent: a message that
// looks like HTML is shown as the text it is.
import { longTime, shortTime, t } from "./i18n.js";

export const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(action, label, text = label) {
  const b = el("button", `act act-${action}`, text);
  b.type = "button";
  b.dataset.action = action;
  if (label !== text) b.setAttribute("aria-label", label);
  return b;
}

/** The element of message `m`; `mine` says it is the reader's own; `quoteOf(seq)` gives the
 * replied-to message when it is known. */
export function renderMessage(m, mine, quoteOf) {
  const node = el("article", mine ? "message mine" : "message");
  node.dataset.seq = String(m.seq);
  node.dataset.id = m.id;
  node.dataset.from = m.from;
  const meta = el("div", "meta");
  const from = el("span", "from", m.from);
  from.id = `from-${m.room}-${m.seq}`;
  const time = el("time", "time", shortTime(m.sentAt));
  time.dateTime = m.sentAt;
  time.title = longTime(m.sentAt);
  const edited = el("span", "edited", t.edited);
  edited.hidden = !m.editedAt;
  if (m.editedAt) edited.title = longTime(m.editedAt);
  meta.append(from, " ", time, " ", edited);
  node.append(meta);
  if (Number.isInteger(m.replyTo)) {
    const quote = el("button", "quote");
    quote.type = "button";
    quote.dataset.action = "show-quoted";
    quote.dataset.replyTo = String(m.replyTo);
    node.append(quote);
    fillQuote(quote, quoteOf(m.replyTo), m.replyTo);
  }
  node.append(el("p", "text", m.text));
  const reactions = el("div", "reactions");
  reactions.setAttribute("role", "group");
  reactions.setAttribute("aria-label", t.react);
  node.append(reactions);
  renderReactions(reactions, m.reactions || {}, m.mine || []);
  const actions = el("div", "actions");
  actions.setAttribute("role", "group");
  actions.setAttribute("aria-label", t.actionsFor(m.from));
  const react = button("react", t.react, "☺︎+");
  react.setAttribute("aria-haspopup", "menu");
  react.setAttribute("aria-expanded", "false");
  actions.append(button("reply", t.reply), react, button("edit", t.edit), button("delete", t.delete));
  node.append(actions);
  node.setAttribute("aria-labelledby", from.id);
  return node;
}

/** The quote of a reply: the replied-to message's sender and text, or what is known of it. */
export function fillQuote(quote, target, seq, deleted = false) {
  quote.replaceChildren();
  if (target) {
    quote.append(el("span", "quote-from", target.from), el("span", "quote-text", target.text));
  } else {
    quote.append(el("span", "quote-text missing", deleted ? t.quoteDeleted : t.quoteMissing(seq)));
  }
}

export function renderReactions(container, counts, mine) {
  container.replaceChildren();
  for (const [emoji, count] of Object.entries(counts)) {
    if (!(count > 0)) continue;
    const own = mine.includes(emoji);
    const chip = el("button", own ? "reaction own" : "reaction");
    chip.type = "button";
    chip.dataset.action = "toggle-reaction";
    chip.dataset.emoji = emoji;
    chip.setAttribute("aria-pressed", own ? "true" : "false");
    chip.setAttribute("aria-label", t.reactionLabel(emoji, count, own));
    chip.append(el("span", "emoji", emoji), el("span", "count", String(count)));
    container.append(chip);
  }
}

/** The emoji menu of a message's React button. */
export function renderPicker() {
  const menu = el("div", "picker");
  menu.setAttribute("role", "menu");
  menu.setAttribute("aria-label", t.react);
  for (const emoji of EMOJI) {
    const b = el("button", "pick", emoji);
    b.type = "button";
    b.dataset.action = "pick";
    b.dataset.emoji = emoji;
    b.setAttribute("role", "menuitem");
    b.setAttribute("aria-label", t.reactWith(emoji));
    b.tabIndex = -1;
    menu.append(b);
  }
  return menu;
}

/** The inline editor that replaces a message's text while it is edited. */
export function renderEditor(text) {
  const form = el("form", "editor");
  const input = el("textarea", "edit-input");
  input.value = text;
  input.maxLength = 500;
  input.rows = Math.min(6, Math.max(1, text.split("\n").length));
  input.setAttribute("aria-label", t.editLabel);
  const save = el("button", "edit-save", t.save);
  save.type = "submit";
  const cancel = el("button", "edit-cancel secondary", t.cancel);
  cancel.type = "button";
  cancel.dataset.action = "cancel-edit";
  form.append(input, save, cancel);
  return form;
}

export function systemLine(kind, text) {
  const p = el("p", `line ${kind}`, text);
  return p;
}
