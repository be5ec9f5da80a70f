"""Presence in big rooms (issue 15): joins and leaves in a room of more than 32 members are
gathered for 250 ms and told in one event carrying the count; small rooms are told at once."""
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import chat_config, free_port
from wsclient import Chat

BIG = 60


def presence_events(chat, want_online, timeout=10):
    """Presence events read until one says `want_online` are online."""
    events = []
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(chat.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event.get("type") == "presence":
            events.append(event)
            if event["online"] == want_online:
                return events


def test_a_crowd_arriving_is_told_in_a_few_events_and_a_small_room_at_once(chatd_factory):
    port = free_port()
    chatd_factory(chat_config(port, extra="[limits]\nmax_connections_per_ip = 1000\nupgrades_per_minute_per_ip = 100000\n")).start()
    first = Chat(port, name="first", room="hall")
    # They arrive together, as after a deploy: each is told of its own arrival (Chat waits for
    # it), at most one interval late.
    with ThreadPoolExecutor(max_workers=BIG) as pool:
        crowd = list(pool.map(lambda n: Chat(port, name=f"c{n}", room="hall"), range(BIG - 1)))
    events = presence_events(first, BIG)
    # Every arrival is accounted for, in far fewer events than arrivals once the room is big.
    assert len(events) < BIG - 1 - 20, [e["message"] for e in events]
    assert any(" others joined" in e["message"] for e in events), [e["message"] for e in events]
    counts = [e["online"] for e in events]
    assert counts == sorted(counts)
    # A lone leave in the big room reads as in a small one.
    crowd.pop().close()
    assert presence_events(first, BIG - 1)[-1]["message"] == f"c{BIG - 2} left"
    # The crowd never read its own events (its clients' queues are full, so they would not
    # see a close answered): cut off at the TCP level.
    for chat in crowd:
        chat.ws.socket.shutdown(socket.SHUT_RDWR)
    # A small room is still told of each join at once, with the joiner's name.
    small = Chat(port, name="s0", room="nook")
    Chat(port, name="s1", room="nook")
    assert presence_events(small, 2) == [{"type": "presence", "room": "nook", "message": "s1 joined", "online": 2}]


def test_typing_reaches_the_others_once_per_interval_and_is_never_stored(chatd_factory):
    """Issue 17, item 4: `typing` goes to the room's other members as {"type":"typing",
    "room","from"}, at most once per connection and room per 2 s (more are dropped without
    an error), and nothing of it is stored."""
    import json as _json
    from conftest import free_port, shipped_config
    from websockets.sync.client import connect as _connect

    port = free_port()
    chatd_factory(shipped_config(port)).start()

    def open_(name):
        ws = _connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name={name}&room=typing",
                      origin=f"http://localhost:{port}", open_timeout=10)
        while _json.loads(ws.recv(timeout=10))["type"] != "history":
            pass
        return ws

    ann, bob = open_("ann"), open_("bob")
    for _ in range(5):
        ann.send(_json.dumps({"type": "typing"}))
    ann.send(_json.dumps({"type": "message", "text": "done typing"}))
    seen = []
    while True:
        event = _json.loads(bob.recv(timeout=10))
        if event["type"] in ("typing", "message"):
            seen.append(event)
        if event["type"] == "message":
            break
    assert seen[0] == {"type": "typing", "room": "typing", "from": "ann"}
    assert [e["type"] for e in seen] == ["typing", "message"]  # four more dropped silently
    # The typist hears neither its own typing nor an error.
    own = []
    while True:
        event = _json.loads(ann.recv(timeout=10))
        own.append(event["type"])
        if event["type"] == "message":
            break
    assert "typing" not in own and "error" not in own
    ann.send(_json.dumps({"type": "typing", "room": "elsewhere"}))
    error = _json.loads(ann.recv(timeout=10))
    assert error["type"] == "error" and error["code"] == "not_joined"
    ann.close()
    bob.close()
    late = open_("late")
    late.send(_json.dumps({"type": "history", "limit": 50}))
    while True:
        event = _json.loads(late.recv(timeout=10))
        if event["type"] == "history":
            assert [m["text"] for m in event["messages"]] == ["done typing"]
            break
    late.close()


def test_members_lists_who_is_in_the_room_each_name_once(chatd_factory):
    """`members` answers a member of the room with the names in it on this node (each once,
    with its connections), the count on every node, and refuses a room not joined. A
    connection is answered once every 2 s; a list is made again after joins and leaves."""
    port = free_port()
    chatd_factory(chat_config(port)).start()
    ann = Chat(port, name="ann", room="hall")
    ann_tab = Chat(port, name="ann", room="hall")
    bob = Chat(port, name="bob", room="hall")
    cy = Chat(port, name="cy", room="elsewhere")
    bob.ws.send(json.dumps({"type": "members", "room": "hall", "nonce": "m-1"}))
    answer = bob.until("members")
    assert answer == {"type": "members", "room": "hall", "online": 3, "elsewhere": 0,
                      "members": [{"name": "ann", "connections": 2}, {"name": "bob", "connections": 1}]}
    # Asked again at once: refused, naming the request (a few bytes asked must not make
    # chatd send kilobytes as fast as they come).
    bob.ws.send(json.dumps({"type": "members", "nonce": "m-again"}))
    error = bob.until("error")
    assert (error["code"], error["nonce"]) == ("rate_limited", "m-again")
    # Without a room it means the upgrade room; a room not joined is refused, naming the request.
    ann.ws.send(json.dumps({"type": "members", "room": "elsewhere", "nonce": "m-2"}))
    error = ann.until("error")
    assert (error["code"], error["nonce"]) == ("not_joined", "m-2")
    ann.ws.send(json.dumps({"type": "members"}))
    assert ann.until("members")["members"] == answer["members"]
    # Someone arrives and a tab leaves: the list follows (made again at most ten times a
    # second), and every answer adds up to its own count. Each probe is a new member that
    # asks once.
    dee = Chat(port, name="dee", room="hall")
    ann_tab.close()
    probes = []
    deadline = time.monotonic() + 5
    while True:
        name = f"p{len(probes)}"
        probe = Chat(port, name=name, room="hall")
        probes.append(probe)
        probe.ws.send(json.dumps({"type": "members"}))
        answer = probe.until("members")
        assert answer["online"] == sum(m["connections"] for m in answer["members"]) + answer["elsewhere"]
        names = [m["name"] for m in answer["members"]]
        if names[:3] == ["ann", "bob", "dee"] and answer["members"][0]["connections"] == 1 and name in names:
            break
        assert time.monotonic() < deadline, answer
