"""Read markers (issue 17, item 5): `read` stores the identity's position, forward only; each
welcome `history` is followed by `unread` for that identity (not counting its own messages
nor edits); a read on one connection reaches the identity's other connections and no one
else; `rooms` answers; positions survive a restart. The shipped config, a real SQLite file."""
import json

from conftest import free_port, shipped_config
from wsclient import open_ws, until


def events_until_pong(ws):
    """Everything the connection is sent before the answer to a ping sent now."""
    ws.send(json.dumps({"type": "ping"}))
    seen = []
    while (event := json.loads(ws.recv(timeout=10)))["type"] != "pong":
        seen.append(event)
    return seen


def read(ws, seq, room=None):
    ws.send(json.dumps({"type": "read", "seq": seq, **({"room": room} if room else {})}))
    return until(ws, "read")


def test_a_position_moves_forward_and_the_welcome_counts_what_is_unread(chatd_factory):
    port = free_port()
    chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=dev-token&name=bob") as bob:
        # A room without messages: nothing read, nothing unread.
        assert until(ann, "unread") == {"type": "unread", "room": "lobby", "readSeq": 0, "unread": 0, "lastSeq": 0}
        until(bob, "unread")
        for text in ("one", "two", "three"):
            bob.send(json.dumps({"type": "message", "text": text}))
            until(ann, "message")
        ann.send(json.dumps({"type": "message", "text": "mine"}))
        while until(bob, "message")["message"]["text"] != "mine":  # bob's own come first
            pass
        bob.send(json.dumps({"type": "edit", "seq": 3, "text": "three!"}))
        assert until(ann, "edited")["at"] == 5
        bob.send(json.dumps({"type": "message", "text": "six"}))
        assert until(ann, "message")["message"]["seq"] == 6

        assert read(ann, 2) == {"type": "read", "room": "lobby", "seq": 2}
        # Backwards: the answer is the position kept.
        assert read(ann, 1)["seq"] == 2
        with open_ws(port, "token=dev-token&name=ann") as tab:
            # After 2: bob's 3 and 6; not ann's own 4, not the edit 5.
            assert until(tab, "unread") == {"type": "unread", "room": "lobby", "readSeq": 2, "unread": 2, "lastSeq": 6}
        with open_ws(port, "token=dev-token&name=cy") as cy:
            # Never read: every message but cy's own (cy has none), edits not counted.
            assert until(cy, "unread") == {"type": "unread", "room": "lobby", "readSeq": 0, "unread": 5, "lastSeq": 6}
        # Beyond the room's last number: the last.
        assert read(ann, 10**9)["seq"] == 6
        with open_ws(port, "token=dev-token&name=ann") as tab:
            assert until(tab, "unread")["readSeq"] == 6
        # The reader's own message does not make the room unread for it.
        ann.send(json.dumps({"type": "message", "text": "seven"}))
        while until(bob, "message")["message"]["text"] != "seven":  # bob's own "six" comes first
            pass
        with open_ws(port, "token=dev-token&name=ann") as tab:
            assert until(tab, "unread") == {"type": "unread", "room": "lobby", "readSeq": 6, "unread": 0, "lastSeq": 7}
        with open_ws(port, "token=dev-token&name=bob") as tab:
            assert until(tab, "unread") == {"type": "unread", "room": "lobby", "readSeq": 0, "unread": 2, "lastSeq": 7}


def test_a_read_reaches_the_identitys_other_tabs_and_no_one_else(chatd_factory):
    port = free_port()
    chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as one, open_ws(port, "token=dev-token&name=ann") as two, \
            open_ws(port, "token=dev-token&name=bob") as bob:
        for ws in (one, two, bob):
            until(ws, "unread")
        for text in ("a", "b", "c"):
            bob.send(json.dumps({"type": "message", "text": text}))
        for ws in (one, two, bob):
            while until(ws, "message")["message"]["seq"] != 3:
                pass
        assert read(one, 2) == {"type": "read", "room": "lobby", "seq": 2}
        assert until(two, "read") == {"type": "read", "room": "lobby", "seq": 2}
        # Once to the tab that read (its answer), never to another identity.
        assert [e for e in events_until_pong(one) if e["type"] == "read"] == []
        assert [e for e in events_until_pong(bob) if e["type"] == "read"] == []
        # A read that moves nothing is answered, and not told to the other tabs.
        assert read(one, 1)["seq"] == 2
        assert [e for e in events_until_pong(two) if e["type"] == "read"] == []
        # The other tab reads further: the first is told.
        assert read(two, 3)["seq"] == 3
        assert until(one, "read") == {"type": "read", "room": "lobby", "seq": 3}
        # Another guest name on the same token is another reader.
        bob.send(json.dumps({"type": "rooms"}))
        assert until(bob, "rooms")["rooms"] == [{"room": "lobby", "readSeq": 0, "unread": 0, "lastSeq": 3, "joined": True}]


def test_rooms_and_positions_survive_a_restart(chatd_factory):
    port = free_port()
    chatd = chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=dev-token&name=bob&room=team") as bob:
        until(ann, "unread")
        until(bob, "unread")
        for text in ("x", "y"):
            bob.send(json.dumps({"type": "message", "text": text}))
        while until(bob, "message")["message"]["seq"] != 2:
            pass
        ann.send(json.dumps({"type": "join", "room": "team"}))
        assert until(ann, "unread") == {"type": "unread", "room": "team", "readSeq": 0, "unread": 2, "lastSeq": 2}
        assert read(ann, 1, room="team") == {"type": "read", "room": "team", "seq": 1}
        ann.send(json.dumps({"type": "rooms"}))
        assert until(ann, "rooms")["rooms"] == [
            {"room": "lobby", "readSeq": 0, "unread": 0, "lastSeq": 0, "joined": True},
            {"room": "team", "readSeq": 1, "unread": 1, "lastSeq": 2, "joined": True},
        ]
        ann.send(json.dumps({"type": "leave", "room": "team"}))
        until(ann, "left")
        ann.send(json.dumps({"type": "rooms"}))
        assert until(ann, "rooms")["rooms"] == [
            {"room": "lobby", "readSeq": 0, "unread": 0, "lastSeq": 0, "joined": True},
            {"room": "team", "readSeq": 1, "unread": 1, "joined": False},
        ]
    chatd.stop()
    chatd.start()
    with open_ws(port, "token=dev-token&name=ann&room=team") as ann:
        assert until(ann, "unread") == {"type": "unread", "room": "team", "readSeq": 1, "unread": 1, "lastSeq": 2}
        assert read(ann, 2)["seq"] == 2


def test_bad_reads_get_clear_errors(chatd_factory):
    port = free_port()
    chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann:
        until(ann, "unread")
        for bad in ({"seq": 0}, {"seq": -3}, {"seq": True}, {"seq": "4"}, {"seq": 1.5}, {}, {"seq": 1, "room": "no such!"}):
            ann.send(json.dumps({"type": "read", **bad}))
            assert until(ann, "error")["code"] == "bad_field", bad
        ann.send(json.dumps({"type": "read", "seq": 1, "room": "elsewhere"}))
        assert until(ann, "error")["code"] == "not_joined"
        # Still served.
        assert read(ann, 1) == {"type": "read", "room": "lobby", "seq": 0}

