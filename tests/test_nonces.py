"""No duplicates: a resent message nonce, or a repeated Idempotency-Key of the publish API,
stores one message, and the resender is answered with the original (same seq and id). The
window lives in the store, so it holds across reconnects and restarts."""
import hashlib
import http.client
import json
import time

import pytest
from websockets.sync.client import connect

from conftest import free_port, shipped_config

KEY = "feeder-key-0123456789"


@pytest.fixture
def server(chatd_factory):
    port = free_port()
    chatd = chatd_factory(shipped_config(port, extra=f"""
[api.keys.feeder]
key_sha256 = "{hashlib.sha256(KEY.encode()).hexdigest()}"
""")).start()
    return port, chatd


def join(port, name, room="lobby", since=None):
    query = f"token=dev-token&name={name}&room={room}" + (f"&since={since}" if since is not None else "")
    ws = connect(f"ws://127.0.0.1:{port}/chat?{query}", origin=f"http://localhost:{port}", open_timeout=10)
    welcome = until(ws, "history")
    return ws, welcome


def until(ws, type_, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if event["type"] == type_:
            return event


def messages_for(ws, seconds):
    """Every `message` event that arrives within `seconds`."""
    seen = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        if event["type"] == "message":
            seen.append(event)
    return seen


def send(ws, text, nonce, room=None):
    event = {"type": "message", "text": text, "nonce": nonce}
    if room:
        event["room"] = room
    ws.send(json.dumps(event))


def stored(port, text):
    """The messages in lobby's history with this text, as a newcomer is shown them."""
    ws, welcome = join(port, "reader", since=0)
    ws.close()
    return [m for m in welcome["messages"] if m["text"] == text]


def test_a_resent_nonce_after_a_reconnect_yields_one_message(server):
    port, _ = server
    witness, _ = join(port, "witness")
    ann, _ = join(port, "ann")
    send(ann, "offline queue 1", "n-1")
    first = until(ann, "message")
    assert "duplicate" not in first and first["message"]["text"] == "offline queue 1"
    ann.close()

    ann, _ = join(port, "ann")
    send(ann, "offline queue 1", "n-1")
    again = until(ann, "message")
    assert again["duplicate"] is True and again["nonce"] == "n-1"
    assert again["message"] == first["message"]  # same seq, id, sentAt

    seen = messages_for(witness, 1.0)
    assert [e["message"]["id"] for e in seen] == [first["message"]["id"]]
    assert all("duplicate" not in e and "nonce" not in e["message"] for e in seen)
    assert len(stored(port, "offline queue 1")) == 1
    # The connection goes on as usual afterwards.
    send(ann, "next", "n-2")
    assert until(ann, "message")["message"]["seq"] == first["message"]["seq"] + 1


def test_the_window_survives_a_restart(server):
    port, chatd = server
    ann, _ = join(port, "ann")
    send(ann, "before the restart", "restart-1")
    first = until(ann, "message")["message"]
    ann.close()
    chatd.stop()
    chatd.start()

    ann, _ = join(port, "ann")
    send(ann, "before the restart", "restart-1")
    again = until(ann, "message")
    assert again["duplicate"] is True and again["message"] == first
    assert len(stored(port, "before the restart")) == 1
    # Numbering goes on with no gap for the duplicate.
    send(ann, "after", "restart-2")
    assert until(ann, "message")["message"]["seq"] == first["seq"] + 1


def test_racing_resends_yield_one_message(server):
    port, _ = server
    witness, _ = join(port, "witness")
    one, _ = join(port, "ann")
    two, _ = join(port, "ann")  # the old connection not yet gone after a reconnect
    # Back to back on one connection, and at once on two.
    send(one, "race", "r-1")
    send(one, "race", "r-1")
    send(two, "race", "r-1")
    seen = messages_for(witness, 1.5)
    assert len(seen) == 1
    original = seen[0]["message"]
    answers = messages_for(one, 0.5) + messages_for(two, 0.5)
    duplicates = [e for e in answers if e.get("duplicate")]
    broadcasts = [e for e in answers if not e.get("duplicate")]
    assert len(duplicates) == 2 and all(e["message"] == original for e in duplicates)
    assert len(broadcasts) == 2  # each of ann's connections is a member
    assert len(stored(port, "race")) == 1


def test_another_identity_with_the_same_nonce_gets_its_own_message(server):
    port, _ = server
    ann, _ = join(port, "ann")
    bob, _ = join(port, "bob")
    send(ann, "from ann", "shared")
    from_ann = until(ann, "message")["message"]
    assert until(bob, "message")["message"] == from_ann
    send(bob, "from bob", "shared")
    from_bob = until(bob, "message")
    assert "duplicate" not in from_bob and from_bob["message"]["text"] == "from bob"
    assert from_bob["message"]["seq"] == from_ann["seq"] + 1
    # The same nonce in another room is another key too.
    ann.send(json.dumps({"type": "join", "room": "other"}))
    until(ann, "history")
    send(ann, "elsewhere", "shared", room="other")
    event = until(ann, "message")
    assert "duplicate" not in event and event["message"]["room"] == "other"


def test_a_bad_nonce_is_refused(server):
    port, _ = server
    ann, _ = join(port, "ann")
    for nonce in ["x" * 65, "", 42]:
        send(ann, "bad", nonce)
        assert until(ann, "error")["code"] == "bad_field"
    assert stored(port, "bad") == []


def post(port, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/api/publish", body=json.dumps(body),
                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}", **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


def test_the_publish_api_honours_an_idempotency_key(server):
    port, _ = server
    witness, _ = join(port, "witness")
    status, headers, body = post(port, {"room": "lobby", "text": "deploy 42"}, {"Idempotency-Key": "deploy-42"})
    assert status == 200 and "Idempotent-Replayed" not in headers
    status, headers, again = post(port, {"room": "lobby", "text": "deploy 42"}, {"Idempotency-Key": "deploy-42"})
    assert status == 200 and headers.get("Idempotent-Replayed") == "true"
    assert again == body
    seen = messages_for(witness, 1.0)
    assert [e["message"]["id"] for e in seen] == [json.loads(body)["id"]]
    assert len(stored(port, "deploy 42")) == 1
    # Without the header, or with another key, each request is its own event.
    assert post(port, {"room": "lobby", "text": "deploy 42"})[0] == 200
    status, _, other = post(port, {"room": "lobby", "text": "deploy 42"}, {"Idempotency-Key": "deploy-43"})
    assert status == 200 and json.loads(other)["seq"] == json.loads(body)["seq"] + 2
    assert len(stored(port, "deploy 42")) == 3
    status, _, refused = post(port, {"room": "lobby", "text": "x"}, {"Idempotency-Key": "k" * 129})
    assert status == 400 and "Idempotency-Key" in json.loads(refused)["error"]


def test_the_sender_is_told_which_message_its_nonce_stored(server):
    """The broadcast is one frame for every member, so the sender of a message with a nonce
    is also sent `sent`, naming the nonce with the stored seq and id (what chatd.js resolves
    its send with); members are not."""
    port, _ = server
    ann, _ = join(port, "ann")
    bob, _ = join(port, "bob")
    send(ann, "acked", "n-ack-1")
    ack = until(ann, "sent")
    shown = until(bob, "message")["message"]
    assert ack == {"type": "sent", "room": "lobby", "nonce": "n-ack-1", "seq": shown["seq"], "id": shown["id"]}
    # A resend is answered as a duplicate, not acknowledged again.
    send(ann, "acked", "n-ack-1")
    again = until(ann, "message")
    while not again.get("duplicate"):
        again = until(ann, "message")
    assert again["nonce"] == "n-ack-1" and again["message"]["seq"] == shown["seq"]
    bob.send(json.dumps({"type": "ping"}))
    rest = []
    while (event := json.loads(bob.recv(timeout=5)))["type"] != "pong":
        rest.append(event["type"])
    assert "sent" not in rest


def test_an_error_repeats_the_nonce_of_the_request_it_answers(server):
    """Any request may carry a nonce, and its error repeats it: refused at once (too long, a
    room not joined), after a store read (an edit of nothing), and after the requests behind
    it were answered (a delete, which holds nothing)."""
    port, _ = server
    ann, _ = join(port, "ann")
    ann.send(json.dumps({"type": "message", "text": "x" * 600, "nonce": "n-big"}))
    assert until(ann, "error") | {"message": ""} == {"type": "error", "code": "too_large", "message": "", "nonce": "n-big"}
    send(ann, "hi", "n-elsewhere", room="nowhere")
    assert until(ann, "error")["nonce"] == "n-elsewhere"
    ann.send(json.dumps({"type": "edit", "seq": 999999, "text": "x", "nonce": "n-edit"}))
    error = until(ann, "error")
    assert (error["code"], error["nonce"]) == ("not_found", "n-edit")
    ann.send(json.dumps({"type": "delete", "seq": 999998, "nonce": "n-del"}))
    send(ann, "after the delete", "n-after")
    error = until(ann, "error")
    assert (error["code"], error["nonce"]) == ("not_found", "n-del")
    # A request without one gets an error without one.
    ann.send(json.dumps({"type": "edit", "seq": 999999, "text": "x"}))
    assert "nonce" not in until(ann, "error")
    # A malformed nonce on a request other than a message is no nonce.
    ann.send(json.dumps({"type": "edit", "seq": 999999, "text": "x", "nonce": "\u00e9"}))
    assert "nonce" not in until(ann, "error")
