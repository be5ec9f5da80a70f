"""Durable mutes and bans (`chatctl ban|unban|mutes|bans`) against a running chatd: the
upgrade refused, open connections closed, a restart survived, the publish API refused."""
import hashlib
import http.client
import json
import socket
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import chatctl as run_chatctl, free_port
from wsclient import Chat

KEY = "feeder-key-0123456789"


def chatctl(control, *args):
    return run_chatctl(*args, socket_path=control)


def ok(control, *args):
    r = chatctl(control, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture
def server(chatd_factory, tmp_path):
    port = free_port()
    control = tmp_path / "control.sock"
    chatd = chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}"]
[api.keys.feeder]
key_sha256 = "{hashlib.sha256(KEY.encode()).hexdigest()}"
[control]
socket = "{control}"
[metrics]
listen = ""
""").start()
    chatd.port, chatd.control = port, control
    return chatd


def refusal(port, name):
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name={name}&room=lobby",
                origin=f"http://localhost:{port}", open_timeout=10)
    return info.value.response.status_code, info.value.response.body.decode().strip()


def listed(control, command):
    return json.loads(ok(control, command, "--json").stdout).get("restrictions", [])


def control_request(control, request):
    """One raw request on the control socket, as chatctl would send it (but unchecked)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(control))
        s.sendall((json.dumps({"v": 1, **request}) + "\n").encode())
        return json.loads(s.makefile().readline())


def test_a_ban_closes_refuses_and_survives_a_restart_until_lifted(server):
    port, control = server.port, server.control
    mallory, alice = Chat(port, name="mallory"), Chat(port, name="alice")

    r = ok(control, "ban", "guest:mallory", "--reason", "abuse")
    assert "banned guest:mallory until unbanned; closed 1 connection(s) here" in r.stdout, r.stdout
    assert mallory.close_code() == 1008
    assert mallory.ws.close_reason == "banned"
    # Only the banned identity: alice stays and still chats.
    alice.send("still here")
    assert alice.message() == "still here"
    assert refusal(port, "mallory") == (403, "banned: this identity may not connect")

    [ban] = listed(control, "bans")
    assert ban["target"] == "guest:mallory" and ban.get("until") is None and ban["reason"] == "abuse"
    assert ban["actor"].startswith("chatctl (root")
    table = ok(control, "bans").stdout
    assert "guest:mallory" in table and "until lifted" in table and "abuse" in table

    # Stored: a restart with the same history file keeps the ban.
    alice.close()
    server.stop()
    server.start()
    assert refusal(port, "mallory")[0] == 403

    ok(control, "unban", "guest:mallory", "--reason", "appeal")
    assert chatctl(control, "unban", "guest:mallory").returncode == 1  # not banned any more
    Chat(port, name="mallory").close()
    assert listed(control, "bans") == []
    audit = json.loads(ok(control, "audit", "--json").stdout)["audit"]
    assert [(a["action"], a["target"], a["reason"]) for a in audit] == [
        ("ban", "guest:mallory", "abuse"), ("unban", "guest:mallory", "appeal")]
    assert all(a["actor"].startswith("chatctl (root") for a in audit)


def test_a_mute_survives_a_restart(server):
    port, control = server.port, server.control
    ok(control, "mute", "guest:bob", "--for", "1h", "--reason", "cool down")
    ok(control, "mute", "credential:carol")
    server.stop()
    server.start()
    bob = Chat(port, name="bob")
    bob.send("muted?")
    assert bob.until("error")["code"] == "muted"
    mutes = {m["target"]: m for m in listed(control, "mutes")}
    assert set(mutes) == {"guest:bob", "credential:carol"}
    assert 3500 < mutes["guest:bob"]["until"] - time.time() <= 3600
    assert mutes["guest:bob"]["reason"] == "cool down" and mutes["credential:carol"].get("until") is None
    table = ok(control, "mutes").stdout.splitlines()
    assert table[0].split() == ["target", "until", "actor", "reason"]
    carol = next(line for line in table if line.startswith("credential:carol"))
    assert "until lifted" in carol
    # A mute is not a ban, nor the other way round.
    assert listed(control, "bans") == []
    ok(control, "unmute", "guest:bob")
    bob.send("back")
    assert bob.message() == "back"
    bob.close()


def test_a_timed_ban_ends_by_itself(server):
    port, control = server.port, server.control
    ok(control, "ban", "guest:quick", "--for", "2s")
    assert refusal(port, "quick")[0] == 403
    [ban] = listed(control, "bans")
    assert 0 < ban["until"] - time.time() <= 2
    deadline = time.monotonic() + 20
    while True:
        try:
            Chat(port, name="quick").close()
            break
        except InvalidStatus as refused:
            assert refused.response.status_code == 403
            assert time.monotonic() < deadline, "the ban did not end"
            time.sleep(0.1)  # the ban ends on the clock: nothing to wait on but time
    assert listed(control, "bans") == []


def test_a_banned_api_key_may_not_publish(server):
    port, control = server.port, server.control

    def publish():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/publish", body=json.dumps({"room": "lobby", "text": "news"}),
                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        response = conn.getresponse()
        status, body = response.status, json.loads(response.read())
        conn.close()
        return status, body

    viewer = Chat(port, name="viewer")  # the room is in use, so the API may publish to it
    ok(control, "ban", "server:feeder")
    status, body = publish()
    assert status == 403 and body["code"] == "banned" and "server:feeder" in body["error"], body
    ok(control, "unban", "server:feeder")
    status, body = publish()
    assert status == 200 and body["ok"], body
    assert viewer.message() == "news"  # only the one after the unban
    viewer.close()


def test_bad_durations_get_clear_answers(server):
    control = server.control
    assert chatctl(control, "ban", "guest:x", "--for", "soon").returncode == 64
    assert chatctl(control, "ban", "guest:x", "--for", "0s").returncode == 64
    for seconds in (0, -1):
        answer = control_request(control, {"command": "ban", "user": "guest:x", "seconds": seconds})
        assert answer["ok"] is False and answer["error"]["code"] == "bad_request", answer
    answer = control_request(control, {"command": "ban", "user": "", "seconds": 5})
    assert answer["error"]["code"] == "bad_request", answer
    # Not identities (found by review: each was stored and listed).
    for user in (" ", "guest:", "guest:a\nb", "x" * 5000, " guest:a", "guest:\u0007"):
        answer = control_request(control, {"command": "ban", "user": user})
        assert answer["ok"] is False and answer["error"]["code"] == "bad_request", (user[:20], answer)
    # A duration past any real use is "until lifted", not an overflow.
    answer = control_request(control, {"command": "mute", "user": "guest:x", "seconds": 1e308})
    assert answer["ok"] is True, answer
    [mute] = listed(control, "mutes")
    assert mute["target"] == "guest:x" and mute.get("until") is None
    assert chatctl(control, "unban", "guest:nobody").returncode == 1
