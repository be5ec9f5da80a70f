"""The connect and publish proxies (issue 16, items 2 and 3) against a real HTTP backend:
the shipped example config with only ports, paths and the proxy URLs set. The backend
admits and refuses connections by their cookie, rewrites and rejects messages, and is made
slow, down and broken; a witness on a token keeps chatting through all of it."""
import json
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from appbackend import AppBackend
from conftest import chatctl, free_port, shipped_config


def open_ws(port, query="", **kwargs):
    return connect(f"ws://127.0.0.1:{port}/chat?{query}", origin=f"http://localhost:{port}", open_timeout=15, **kwargs)


def until(ws, type_, timeout=10):
    while True:
        event = json.loads(ws.recv(timeout=timeout))
        if event["type"] == type_:
            return event["message"] if type_ == "message" else event


def refusal(port, query="", **kwargs):
    with pytest.raises(InvalidStatus) as info:
        open_ws(port, query, **kwargs)
    response = info.value.response
    return response.status_code, response.body.decode().strip()


def close_of(ws, timeout=10):
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else None


def by_cookie(body, headers):
    cookie = body["headers"].get("cookie", "")
    if "sid=ann" in cookie:
        return 200, {"user": "u-ann", "name": "Ann", "rooms": ["lobby", "team-*"]}
    if "sid=mod" in cookie:
        return 200, {"user": "u-mod", "name": "Mo", "role": "moderator"}
    if "sid=brief" in cookie:
        return 200, {"user": "u-brief", "name": "Brief", "expires_at": time.time() + 2}
    if "sid=banned" in cookie:
        return 403, {"reason": "banned until Friday"}
    if "sid=slow" in cookie:
        return 200, {"user": "u-slow"}, 3
    if "sid=broken" in cookie:
        return 500, {"user": "u-broken"}
    if "sid=junk" in cookie:
        return 200, {"user": "u", "role": "root"}
    return 401, {"reason": "log in first"}


def moderate(body, headers):
    text = body["text"]
    if "spam" in text:
        return 403, {"reason": "no spam here"}
    if text.startswith("shout "):
        return 200, {"text": text[len("shout "):].upper()}
    if text.startswith("slow "):
        return 200, {}, float(text.split()[1])
    return 200, None


@pytest.fixture
def backend():
    b = AppBackend()
    b.on("/connect", by_cookie)
    b.on("/publish", moderate)
    yield b
    b.stop()


def start(chatd_factory, tmp_path, backend, **overrides):
    port = free_port()
    control = tmp_path / "control.sock"
    values = {"proxy.connect_url": backend.url("/connect"), "proxy.publish_url": backend.url("/publish"),
              "proxy.timeout_seconds": 1}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    chatd = chatd_factory(shipped_config(port, control_socket=control, overrides=values)).start()
    return port, control, chatd


def cookie(sid):
    return {"additional_headers": {"Cookie": f"theme=dark; sid={sid}"}}


def test_the_backend_admits_by_cookie_and_refuses_with_its_status_and_reason(chatd_factory, tmp_path, backend):
    port, control, _ = start(chatd_factory, tmp_path, backend)
    with open_ws(port, "token=dev-token&name=witness&room=lobby") as witness, \
            open_ws(port, "room=lobby&name=ignored", **cookie("ann")) as ann:
        assert until(ann, "system")["message"] == "connected as Ann"
        until(witness, "history")
        ann.send(json.dumps({"type": "message", "text": "hello from a cookie"}))
        seen = until(witness, "message")
        assert (seen["from"], seen["text"]) == ("Ann", "hello from a cookie")
        # The backend's rooms hold: Ann may join team-x, not ops.
        ann.send(json.dumps({"type": "join", "room": "ops"}))
        assert until(ann, "error")["code"] == "forbidden"
        # Operators see the backend's user, and kick by it.
        listed = chatctl("connections", socket_path=control)
        assert "proxy:u-ann" in listed.stdout, listed.stdout + listed.stderr
    asked = backend.seen("/connect")[0]["body"]
    assert asked["address"] == "127.0.0.1" and asked["origin"] == f"http://localhost:{port}"
    assert asked["room"] == "lobby" and asked["name"] == "ignored"
    assert asked["headers"] == {"cookie": "theme=dark; sid=ann"}
    # A request with a token never reaches the backend.
    assert all("token" not in json.dumps(r["body"]) for r in backend.seen("/connect"))
    assert len(backend.seen("/connect")) == 1
    assert refusal(port, "room=lobby", **cookie("banned")) == (403, "banned until Friday")
    assert refusal(port, "room=lobby") == (401, "log in first")
    # Ann's rooms are the backend's: the upgrade to a room outside them is refused by chatd.
    assert refusal(port, "room=ops", **cookie("ann")) == (403, "room not allowed for this credential")
    # A wrong token is still chatd's to refuse, not the backend's.
    assert refusal(port, "token=wrong", **cookie("ann")) == (401, "missing or invalid token")


def test_a_slow_down_or_broken_backend_refuses_with_503_and_the_witness_chats_on(chatd_factory, tmp_path, backend):
    port, _, chatd = start(chatd_factory, tmp_path, backend, proxy__publish_url="")
    with open_ws(port, "token=dev-token&name=witness") as witness:
        until(witness, "history")
        began = time.monotonic()
        assert refusal(port, **cookie("slow"))[0] == 503
        assert time.monotonic() - began < 2.5  # proxy.timeout_seconds = 1, not the backend's 3 s
        assert refusal(port, **cookie("broken"))[0] == 503
        assert refusal(port, **cookie("junk"))[0] == 503
        backend.stop()
        status, reason = refusal(port, **cookie("ann"))
        assert status == 503 and "reconnect later" in reason
        witness.send(json.dumps({"type": "message", "text": "still here"}))
        assert until(witness, "message")["text"] == "still here"
        backend.start()
        with open_ws(port, **cookie("ann")) as ann:
            assert until(ann, "system")["message"] == "connected as Ann"
    assert "connect proxy gave no usable answer" in "".join(chatd.lines)


def test_a_backend_session_ends_at_its_expires_at_and_when_the_proxy_is_removed(chatd_factory, tmp_path, backend):
    port, control, chatd = start(chatd_factory, tmp_path, backend)
    brief = open_ws(port, **cookie("brief"))
    ann = open_ws(port, **cookie("ann"))
    witness = open_ws(port, "token=dev-token&name=witness")
    for ws in (brief, ann, witness):
        until(ws, "history")
    assert close_of(brief) == (1008, "credential expired")
    # Emptying proxy.connect_url revokes what the backend admitted; token sessions stay.
    text = chatd.config.read_text().replace(f'connect_url = "{backend.url("/connect")}"', 'connect_url = ""')
    chatd.config.write_text(text)
    assert chatctl("reload", socket_path=control).returncode == 0
    assert close_of(ann) == (1008, "credential revoked")
    witness.send(json.dumps({"type": "message", "text": "after the reload"}))
    assert until(witness, "message")["text"] == "after the reload"
    assert refusal(port, **cookie("ann")) == (401, "missing or invalid token")
    witness.close()


def test_the_publish_proxy_keeps_rewrites_and_rejects_in_the_order_sent(chatd_factory, tmp_path, backend):
    port, _, _ = start(chatd_factory, tmp_path, backend)
    with open_ws(port, "token=dev-token&name=witness") as witness, open_ws(port, "token=dev-token&name=sam") as sam:
        until(witness, "history")
        until(sam, "history")
        sam.send(json.dumps({"type": "message", "text": "buy spam now"}))
        error = until(sam, "error")
        assert (error["code"], error["message"]) == ("rejected", "no spam here")
        # Sent back to back, the first answered slowest: stored in the order sent all the same.
        for text in ["slow 0.4 first", "shout second", "third"]:
            sam.send(json.dumps({"type": "message", "text": text}))
        got = [until(witness, "message")["text"] for _ in range(3)]
        assert got == ["slow 0.4 first", "SECOND", "third"]
        asked = backend.seen("/publish")[0]["body"]
        assert asked == {"room": "lobby", "user": "token:" + asked["user"].split(":")[1] + ":sam", "name": "sam",
                         "text": "buy spam now", "address": "127.0.0.1"}
    # History holds what was stored, rewritten, and nothing rejected.
    with open_ws(port, "token=dev-token&name=late") as late:
        texts = [m["text"] for m in until(late, "history")["messages"]]
        assert texts[-3:] == ["slow 0.4 first", "SECOND", "third"] and "buy spam now" not in texts


def test_the_publish_proxy_checks_edits_too(chatd_factory, tmp_path, backend):
    """An edit is checked like a message (`"edit": SEQ` tells the backend which one): a
    rejected edit changes nothing, a rewritten one is stored rewritten."""
    port, _, _ = start(chatd_factory, tmp_path, backend)
    with open_ws(port, "token=dev-token&name=witness") as witness, open_ws(port, "token=dev-token&name=sam") as sam:
        until(witness, "history")
        until(sam, "history")
        sam.send(json.dumps({"type": "message", "text": "hello"}))
        sent = until(witness, "message")
        sam.send(json.dumps({"type": "edit", "seq": sent["seq"], "text": "now with spam"}))
        error = until(sam, "error")
        assert (error["code"], error["message"]) == ("rejected", "no spam here")
        sam.send(json.dumps({"type": "edit", "seq": sent["seq"], "text": "shout hello"}))
        edited = until(witness, "edited")
        assert (edited["seq"], edited["text"]) == (sent["seq"], "HELLO")
        asked = [r["body"] for r in backend.seen("/publish")]
        assert [(a["text"], a.get("edit")) for a in asked] == [
            ("hello", None), ("now with spam", sent["seq"]), ("shout hello", sent["seq"])]
    with open_ws(port, "token=dev-token&name=late") as late:
        assert [m["text"] for m in until(late, "history")["messages"] if m["seq"] == sent["seq"]] == ["HELLO"]


def test_publish_on_error_rejects_or_accepts_when_the_backend_is_down(chatd_factory, tmp_path, backend):
    port, control, chatd = start(chatd_factory, tmp_path, backend)
    with open_ws(port, "token=dev-token&name=witness") as witness, open_ws(port, "token=dev-token&name=sam") as sam:
        until(witness, "history")
        until(sam, "history")
        sam.send(json.dumps({"type": "message", "text": "slow 3 too slow"}))
        assert until(sam, "error")["code"] == "proxy_unavailable"
        backend.stop()
        sam.send(json.dumps({"type": "message", "text": "while down"}))
        assert until(sam, "error")["code"] == "proxy_unavailable"
        chatd.config.write_text(chatd.config.read_text().replace('publish_on_error = "reject"', 'publish_on_error = "accept"'))
        assert chatctl("reload", socket_path=control).returncode == 0
        sam.send(json.dumps({"type": "message", "text": "accepted unchecked"}))
        assert until(witness, "message")["text"] == "accepted unchecked"


def test_a_sender_muted_while_its_check_failed_is_not_stored(chatd_factory, tmp_path, backend):
    # Found by review: with publish_on_error = "accept", the mute was not checked again.
    port, control, _ = start(chatd_factory, tmp_path, backend, proxy__publish_on_error="accept")
    with open_ws(port, "token=dev-token&name=witness") as witness, open_ws(port, "token=dev-token&name=sam") as sam:
        until(witness, "history")
        until(sam, "history")
        sam.send(json.dumps({"type": "message", "text": "slow 3 muted meanwhile"}))
        backend.wait_for("/publish", 1)
        key = [line.split()[2] for line in chatctl("connections", socket_path=control).stdout.splitlines() if " sam " in line]
        assert key, chatctl("connections", socket_path=control).stdout
        assert chatctl("mute", key[0], socket_path=control).returncode == 0
        assert until(sam, "error")["code"] == "muted"
        witness.send(json.dumps({"type": "message", "text": "witness after"}))
        assert until(witness, "message")["text"] == "witness after"

