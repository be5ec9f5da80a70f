// The rooms list as DOM: a button per room (its unread count in a badge and in its label)
// and a Leave button per joined room.
import { t } from "./i18n.js";

/** The rooms list: joined rooms, and others with unread messages, each with its badge. */
export function renderRoomList(list, rooms, current, isMine, fallbackFocus) {
  const items = [];
  for (const r of rooms) {
    if (!r.joined && r.serverUnread === 0 && r.name !== current) continue;
    const li = document.createElement("li");
    li.className = `room-item${r.joined ? "" : " not-joined"}${r.name === current ? " current" : ""}`;
    li.dataset.room = r.name;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "room-button";
    open.dataset.action = "open-room";
    open.dataset.room = r.name;
    if (r.name === current) open.setAttribute("aria-current", "page");
    const label = document.createElement("span");
    label.className = "room-name";
    label.textContent = `#${r.name}`;
    open.append(label);
    const unread = r.unread(isMine);
    const names = [`#${r.name}`];
    if (!r.joined) {
      const note = document.createElement("span");
      note.className = "room-note";
      note.textContent = t.notJoined;
      open.append(note);
      names.push(t.notJoined);
    }
    if (unread > 0) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = unread >= 1000 ? "999+" : String(unread);
      badge.setAttribute("aria-hidden", "true");
      open.append(badge);
      names.push(t.unread(unread, r.capped));
    }
    open.setAttribute("aria-label", names.join(", "));
    li.append(open);
    if (r.joined) {
      const leave = document.createElement("button");
      leave.type = "button";
      leave.className = "icon leave";
      leave.dataset.action = "leave-room";
      leave.dataset.room = r.name;
      leave.setAttribute("aria-label", t.leave(r.name));
      leave.title = t.leave(r.name);
      leave.textContent = "✕";
      li.append(leave);
    }
    items.push(li);
  }
  // Keep the focused button focused across the re-render (keyboard users stay in place).
  const focused = list.contains(document.activeElement) ? document.activeElement.closest("button") : null;
  const refocus = focused ? [focused.dataset.action, focused.dataset.room] : null;
  list.replaceChildren(...items);
  if (refocus) {
    const again = list.querySelector(`button[data-action="${refocus[0]}"][data-room="${CSS.escape(refocus[1])}"]`);
    (again || list.querySelector("button") || fallbackFocus).focus();
  }
}
