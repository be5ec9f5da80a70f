"""Hostile input against a real chatd while a bystander keeps chatting: every case gets its
documented answer, the bystander is never disturbed, and memory stays bounded."""
import json
import socket
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import chat_config, free_port
from wsclient import Chat


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture
def target(chatd_factory):
    port = free_port()
    server = chatd_factory(chat_config(port, extra="""
[limits]
rate_messages = 100000
ip_rate_messages = 1000000
user_rate_messages = 100000
max_connections_per_ip = 1000
upgrades_per_minute_per_ip = 100000
handshake_timeout_seconds = 1
""")).start()
    bystander = Chat(port, name="bystander", room="calm")
    listener = Chat(port, name="listener", room="calm")
    counter = {"n": 0}

    def still_served():
        counter["n"] += 1
        text = f"still here {counter['n']}"
        bystander.send(text)
        assert listener.message() == text

    yield port, server, still_served
    bystander.close()
    listener.close()


def raw_ws(port, name="hostile", room="lobby"):
    return connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name={name}&room={room}",
                   origin=f"http://localhost:{port}", open_timeout=10, max_size=None)


def until(ws, type_):
    while True:
        event = json.loads(ws.recv(timeout=10))
        if event["type"] == type_:
            return event


def close_code(ws):
    try:
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@pytest.mark.parametrize("payload,code", [
    ("{", "bad_json"),
    ("null", "bad_type"),
    ("[" * 2000 + "]" * 2000, "bad_json"),                       # deep nesting: refused, not recursed into
    ('{"type":"message","text":' + "9" * 1000 + "}", "bad_json"),   # a number no parser should hold
    ('{"type":"message","text":["a"]}', "bad_field"),
    ('{"type":"delete","seq":-1}', "bad_field"),
    ('{"type":"history","limit":1e300}', "bad_field"),
    ('{"type":' + '"x' * 10 + '"}', "bad_json"),
])
def test_malformed_events_get_error_events(target, payload, code):
    port, _, still_served = target
    ws = raw_ws(port)
    until(ws, "presence")
    ws.send(payload)
    assert until(ws, "error")["code"] == code
    ws.send(json.dumps({"type": "message", "text": "ok"}))
    assert until(ws, "message")["message"]["text"] == "ok"
    still_served()
    ws.close()


def test_control_and_bidi_characters(target):
    port, _, still_served = target
    # In names and rooms: refused by the sanitiser (guest, lobby).
    ws = raw_ws(port, name="ad\u202emin", room="lo\u0000bby")
    assert until(ws, "system")["message"] == "connected as guest"
    # In text: bidi overrides and control characters are removed, the rest kept.
    ws.send(json.dumps({"type": "message", "text": "abc\u202edcba\u0007\u2066x\u2069\nline"}))
    assert until(ws, "message")["message"]["text"] == "abcdcbax\nline"
    ws.send(json.dumps({"type": "message", "text": "\u202e\u0000"}))
    assert until(ws, "error")["code"] == "empty"
    still_served()
    ws.close()


def test_frame_attacks_are_closed_as_documented(target):
    port, _, still_served = target
    cases = [
        (lambda ws: ws.send("x" * 5000), 1009),                                  # oversized frame
        (lambda ws: ws.send(b"\x01\x02"), 1003),                                 # binary
        (lambda ws: ws.send(iter(["{"] + [" "] * 500 + ["}"])), 1009),           # fragment flood
    ]
    for attack, expected in cases:
        ws = raw_ws(port)
        until(ws, "presence")
        try:
            attack(ws)
        except ConnectionClosed as closed:
            # chatd may close mid-attack (the 129th fragment), before the client is done sending.
            assert closed.rcvd and closed.rcvd.code == expected
        else:
            assert close_code(ws) == expected
    # Invalid UTF-8 needs a raw frame (the client library will not send one).
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"GET /chat?token=dev-token HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Origin: http://localhost:{port}\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    mask = b"\x00\x00\x00\x00"
    s.sendall(b"\x81\x82" + mask + b"\xc3\x28")
    received = b""
    while b"\x88" not in received:
        chunk = s.recv(4096)
        if not chunk:
            break
        received += chunk
    close = received[received.index(b"\x88"):]
    assert int.from_bytes(close[2:4], "big") == 1007
    s.close()
    still_served()


def test_ping_flood_is_answered_and_bounded(target):
    port, server, still_served = target
    ws = raw_ws(port)
    until(ws, "presence")
    before = rss_kib(server.proc.pid)
    for i in range(5000):
        ws.ping(b"%d" % i + b"x" * 100)
    ws.send(json.dumps({"type": "message", "text": "after the flood"}))
    assert until(ws, "message")["message"]["text"] == "after the flood"
    still_served()
    assert rss_kib(server.proc.pid) - before < 20_000
    ws.close()


def test_slowloris_and_header_floods(target):
    port, _, still_served = target
    # A request head trickled in: cut at the handshake timeout (1 s here).
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /chat?token=dev-token HTTP/1.1\r\nHost: x\r\n")
    slow.settimeout(10)
    started = time.monotonic()
    assert slow.recv(4096) == b""  # closed by chatd
    assert time.monotonic() - started < 5
    slow.close()
    # Thousands of headers: 400, connection closed.
    many = socket.create_connection(("127.0.0.1", port))
    many.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(5000)) + b"\r\n")
    many.settimeout(10)
    assert many.recv(4096).startswith(b"HTTP/1.1 400")
    many.close()
    still_served()


def test_connection_flood_from_one_address(chatd_factory):
    port = free_port()
    server = chatd_factory(chat_config(port, extra="\n[limits]\nmax_connections_per_ip = 20\n")).start()
    held, refused = [], 0
    for i in range(40):
        try:
            # One room each: nobody fills its unread queue with the others' presence events.
            held.append(raw_ws(port, name=f"f{i}", room=f"flood{i}"))
        except InvalidStatus as e:
            assert e.response.status_code == 429
            refused += 1
    assert len(held) == 20 and refused == 20
    before = rss_kib(server.proc.pid)
    for ws in held:
        ws.close()
    assert rss_kib(server.proc.pid) <= before + 10_000


@pytest.mark.parametrize("claims,accepted", [
    ({"exp": 1e16}, True),            # crashed chatd: the expiry became an Int64 timer
    ({"exp": 1e300}, True),
    ({"exp": 2 ** 63}, True),
    ({"exp": -1e16}, False),
    ({"exp": 4102444800, "nbf": 1e300}, False),
    ({"exp": "4102444800"}, False),   # a string: refused by name, not by a crash
])
def test_signed_extreme_jwt_claims_never_crash(chatd_factory, tmp_path, claims, accepted):
    import jwt
    from conftest import shipped_config
    secret = "hostile-suite-hs256-secret-of-32-bytes-or-more"
    (tmp_path / "jwt.key").write_text(secret)
    port = free_port()
    server = chatd_factory(shipped_config(port, extra=f'[auth.jwt]\nalgorithm = "HS256"\nkey_file = "{tmp_path}/jwt.key"\n')).start()
    token = jwt.encode({"sub": "far", **claims}, secret, algorithm="HS256")
    if accepted:
        ws = connect(f"ws://127.0.0.1:{port}/chat", origin=f"http://localhost:{port}", open_timeout=10,
                     subprotocols=["chatd", f"bearer.{token}"])
        ws.send(json.dumps({"type": "message", "text": "still alive"}))
        assert until(ws, "message")["message"]["text"] == "still alive"
        ws.close()
    else:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{port}/chat?token={token}", origin=f"http://localhost:{port}", open_timeout=10)
        assert refused.value.response.status_code == 401
    # Alive and serving after it: a plain client still gets in.
    raw_ws(port, name="after").close()
    assert server.proc.poll() is None
