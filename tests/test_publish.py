"""Server push: POST /api/publish and chatctl publish into server-only (dashboard) rooms."""
import hashlib
import http.client
import json

import pytest
from websockets.sync.client import connect

from conftest import chatctl, free_port

KEY = "feeder-key-0123456789"
ADMIN_KEY = "admin-key-0123456789"


@pytest.fixture
def server(chatd_factory, tmp_path):
    port = free_port()
    control = tmp_path / "control.sock"
    chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}"]
[api]
max_body_bytes = 1024
[api.keys.feeder]
key_sha256 = "{hashlib.sha256(KEY.encode()).hexdigest()}"
rooms = ["dash-*"]
[api.keys.admin]
key_sha256 = "{hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}"
[rooms.rules."dash-*"]
send = "server"
slow_consumer = "drop_oldest"
[control]
socket = "{control}"
[metrics]
listen = ""
""").start()
    return port, control


def post(port, body, key=KEY, path="/api/publish", method="POST", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key:
        all_headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    conn.request(method, path, body=data, headers=all_headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, json.loads(payload) if payload else None


def member(port, room):
    ws = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name=viewer&room={room}",
                 origin=f"http://localhost:{port}", open_timeout=10)
    until(ws, "history")
    return ws


def until(ws, type_):
    while True:
        event = json.loads(ws.recv(timeout=10))
        if event["type"] == type_:
            return event


def test_publish_reaches_a_dashboard_room_that_clients_cannot_send_to(server):
    port, _ = server
    viewer = member(port, "dash-cpu")
    status, answer = post(port, {"room": "dash-cpu", "text": "load", "data": {"cpu": 0.42, "cores": [1, 2]}})
    assert status == 200 and answer["ok"] and answer["seq"] == 1
    event = until(viewer, "message")["message"]
    assert event["from"] == "feeder" and event["text"] == "load" and event["data"] == {"cpu": 0.42, "cores": [1, 2]}
    viewer.send(json.dumps({"type": "message", "text": "me too", "room": "dash-cpu"}))
    assert until(viewer, "error")["code"] == "read_only"
    # Published events are history: a newcomer sees them with their payload.
    late = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name=late&room=dash-cpu",
                   origin=f"http://localhost:{port}", open_timeout=10)
    assert until(late, "history")["messages"][0]["data"]["cpu"] == 0.42
    late.close()
    viewer.close()


@pytest.mark.parametrize("body,key,expected", [
    ({"room": "dash-cpu", "text": "x"}, None, 401),
    ({"room": "dash-cpu", "text": "x"}, "wrong-key", 401),
    ({"room": "lobby", "text": "x"}, KEY, 403),
    ({"room": "no-such-room", "text": "x"}, ADMIN_KEY, 404),
    ("{not json", KEY, 400),
    ({"room": "dash-cpu"}, KEY, 400),
    ({"room": "a room", "text": "x"}, KEY, 400),
    ({"room": "dash-cpu", "text": 5}, KEY, 400),
    ({"room": "dash-cpu", "text": "x" * 501}, KEY, 400),
    ({"room": "dash-cpu", "text": "x" * 2000}, KEY, 413),
])
def test_publish_refusals(server, body, key, expected):
    port, _ = server
    status, answer = post(port, body, key=key)
    assert status == expected
    assert answer["error"]


def test_publish_method_and_chunked_oversize(server):
    port, _ = server
    assert post(port, b"", method="GET")[0] == 405
    # A chunked body is counted as it arrives.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/api/publish")
    conn.putheader("Authorization", f"Bearer {KEY}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for _ in range(4):
        conn.send(b"200\r\n" + b"x" * 512 + b"\r\n")
    # Answered once the limit is passed, not when the body ends (which may be never).
    assert conn.getresponse().status == 413
    conn.close()


def test_chatctl_publish(server):
    port, control = server
    viewer = member(port, "dash-ops")
    r = chatctl("publish", "dash-ops", "deploy done", "--data", '{"version":"1.2"}', socket_path=control)
    assert r.returncode == 0, r.stderr
    event = until(viewer, "message")["message"]
    assert event["from"] == "operator" and event["data"] == {"version": "1.2"}
    assert chatctl("publish", "dash-ops", "--data", "{bad", socket_path=control).returncode != 0
    assert chatctl("publish", "nowhere-room", "x", socket_path=control).returncode != 0
    viewer.close()
