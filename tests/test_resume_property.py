"""Resume is exact for everything (issue 17, item 6), as a property: random interleavings
of messages, edits, deletes, reactions, reads and disconnects. A client that keeps a view
from what it is sent — messages, `edited`, `deleted`, `reactions`, and on each reconnect the
resumed `history` (`since` the last number it saw, at the upgrade or in band) — ends, after
every resume, with exactly what a fresh joiner is shown and what the database holds; its
`unread` position is the database's too.

The shipped config (window raised so that a fresh joiner is shown every message), a real
SQLite file read directly. Seeds are fixed (and printed) so that a failure replays."""
import json
import random
import sqlite3

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import free_port, shipped_config

EMOJI = ["👍", "🎉", "❤️", "😂"]


def open_ws(port, name, since=None):
    query = f"token=dev-token&name={name}" + (f"&since={since}" if since is not None else "")
    return connect(f"ws://127.0.0.1:{port}/chat?{query}", origin=f"http://localhost:{port}", open_timeout=10)


def until(ws, type_, **fields):
    """The next `type_` event with these fields (an actor's connection also gets the others')."""
    while True:
        event = json.loads(ws.recv(timeout=10))
        if event["type"] == type_ and all(event.get(k) == v for k, v in fields.items()):
            return event
        assert event["type"] != "error", event


class Viewer:
    """A client's view of the room, from the events it was sent: {seq: (text, reactions)}."""

    def __init__(self):
        self.messages = {}
        self.last = 0  # the last number seen: a message's `seq` or a change's `at`
        self.read_seq = None

    def take(self, event):
        kind = event["type"]
        if kind == "history":
            for m in event["messages"]:
                self.messages[m["seq"]] = (m["text"], m.get("reactions", {}))
                self.last = max(self.last, m["seq"])
            for e in event.get("edits", []):
                if e["seq"] in self.messages:
                    self.messages[e["seq"]] = (e["text"], self.messages[e["seq"]][1])
                self.last = max(self.last, e["at"])
            for d in event.get("deleted", []):
                self.messages.pop(d["seq"], None)
                self.last = max(self.last, d["at"])
            for r in event.get("reactions", []):
                if r["seq"] in self.messages:
                    self.messages[r["seq"]] = (self.messages[r["seq"]][0], r["counts"])
                self.last = max(self.last, r["at"])
        elif kind == "message":
            m = event["message"]
            self.messages[m["seq"]] = (m["text"], m.get("reactions", {}))
            self.last = max(self.last, m["seq"])
        elif kind == "edited":
            if event["seq"] in self.messages:
                self.messages[event["seq"]] = (event["text"], self.messages[event["seq"]][1])
            self.last = max(self.last, event["at"])
        elif kind == "deleted":
            self.messages.pop(event["seq"], None)
            self.last = max(self.last, event["at"])
        elif kind == "reactions":
            if event["seq"] in self.messages:
                self.messages[event["seq"]] = (self.messages[event["seq"]][0], event["counts"])
            self.last = max(self.last, event["at"])
        elif kind in ("unread", "read"):
            self.read_seq = max(self.read_seq or 0, event["readSeq" if kind == "unread" else "seq"])

    def drain(self, ws, timeout=0.0):
        """Takes what has arrived (waiting up to `timeout` for the first)."""
        while True:
            try:
                self.take(json.loads(ws.recv(timeout=timeout)))
            except TimeoutError:
                return
            timeout = 0.0


def database_view(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT seq, text, reactions FROM message WHERE room = 'lobby' AND edit_of IS NULL ORDER BY seq").fetchall()
        read = db.execute("SELECT seq FROM read_marker WHERE room = 'lobby' AND reader LIKE '%:watcher'").fetchone()
    view = {seq: (text, {e: n for e, n in json.loads(reactions)} if reactions else {}) for seq, text, reactions in rows}
    return view, (read[0] if read else 0)


def fresh_view(port):
    with open_ws(port, "fresh") as ws:
        viewer = Viewer()
        viewer.take(until(ws, "history"))
        return viewer.messages


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_resumed_client_ends_with_what_a_fresh_joiner_and_the_database_have(chatd_factory, seed):
    print(f"seed {seed}")
    rng = random.Random(seed)
    port = free_port()
    chatd = chatd_factory(shipped_config(port, overrides={
        "history.window": 1000, "auth.moderator_tokens": ["mod-token"],
        "limits.rate_messages": 10000, "limits.user_rate_messages": 10000, "limits.ip_rate_messages": 10000})).start()
    path = chatd.dir / "history.sqlite"
    authors = {name: open_ws(port, name) for name in ("ann", "bob")}
    moderator = connect(f"ws://127.0.0.1:{port}/chat?token=mod-token&name=mia", origin=f"http://localhost:{port}",
                        open_timeout=10)
    # The watcher's other tab: its reads move the watcher's position while it is away.
    tab = open_ws(port, "watcher")
    for ws in (*authors.values(), moderator, tab):
        until(ws, "history")
    mine = {"ann": [], "bob": []}  # live messages by author
    watcher, view = open_ws(port, "watcher"), Viewer()
    resumes = tab_reads = 0
    for step in range(160):
        live = [seq for seqs in mine.values() for seq in seqs]
        op = rng.choice(["message"] * 3 + ["edit", "delete", "react", "react", "read", "disconnect"])
        author = rng.choice(list(authors))
        ws = authors[author]
        if op == "message" or not live:
            ws.send(json.dumps({"type": "message", "text": f"{author} {step}"}))
            while (m := until(ws, "message")["message"])["text"] != f"{author} {step}":
                pass
            mine[author].append(m["seq"])
        elif op == "edit" and mine[author]:
            target = rng.choice(mine[author])
            ws.send(json.dumps({"type": "edit", "seq": target, "text": f"{author} {step} (edited)"}))
            until(ws, "edited", seq=target, text=f"{author} {step} (edited)")
        elif op == "delete":
            target = rng.choice(live)
            moderator.send(json.dumps({"type": "delete", "seq": target}))
            until(moderator, "deleted", seq=target)
            for seqs in mine.values():
                if target in seqs:
                    seqs.remove(target)
        elif op == "react":
            target, emoji, added = rng.choice(live), rng.choice(EMOJI), rng.random() < 0.7
            ws.send(json.dumps({"type": "react" if added else "unreact", "seq": target, "emoji": emoji}))
            until(ws, "reactions", seq=target, emoji=emoji, added=added, by=author)
        elif op == "read":
            tab.send(json.dumps({"type": "read", "seq": rng.choice(live)}))
            until(tab, "read")
            tab_reads += 1
        if watcher is not None:
            view.drain(watcher)
        if op == "disconnect" or (watcher is None and rng.random() < 0.3):
            if watcher is not None:
                watcher.close()
                watcher = None
                continue
            # Back, from the last number seen: at the upgrade, or in band on a fresh connection.
            in_band = rng.random() < 0.5
            watcher = open_ws(port, "watcher", since=None if in_band else view.last)
            if in_band:
                until(watcher, "history")  # a welcome of its own: not taken, the resume is
                watcher.send(json.dumps({"type": "history", "since": view.last}))
            resumed = unread = None
            while resumed is None or unread is None:  # the answer and the welcome's `unread`, in either order
                event = json.loads(watcher.recv(timeout=10))
                if event["type"] == "history":
                    resumed = event
                elif event["type"] == "unread":
                    unread = event
            assert resumed["recovered"] is True, (seed, step)
            view.take(resumed)
            view.take(unread)
            stored, read_seq = database_view(path)
            assert view.messages == stored, (seed, step)
            assert fresh_view(port) == stored, (seed, step)
            assert view.read_seq == read_seq, (seed, step)
            resumes += 1
    assert resumes >= 5
    for ws in (*authors.values(), moderator, tab):
        ws.close()
    if watcher is not None:
        watcher.close()
