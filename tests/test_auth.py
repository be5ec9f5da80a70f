"""Credentials against a real chatd: hashed static tokens, JWTs (EdDSA and HS256) in each of
the three places a client may put them, expiry mid-session, renewal in band (`refresh`), and
revocation by reload."""
import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import chatctl, free_port


def new_ed25519(path):
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


def sign(key, seconds=600, **claims):
    payload = {"sub": "u-1", "exp": int(time.time() + seconds), "iss": "idp.test", "aud": "chatd", **claims}
    return jwt.encode(payload, key, algorithm="EdDSA")


@pytest.fixture
def server(chatd_factory, tmp_path):
    port = free_port()
    control = tmp_path / "control.sock"
    key = new_ed25519(tmp_path / "jwt.pem")
    config = f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = []
allowed_origins = ["http://localhost:{port}"]
[auth.credentials.alice]
token_sha256 = "{hashlib.sha256(b'alice-secret').hexdigest()}"
rooms = ["lobby", "team-*"]
[auth.jwt]
algorithm = "EdDSA"
key_file = "{tmp_path}/jwt.pem"
issuer = "idp.test"
audience = "chatd"
leeway_seconds = 0
refresh_ahead_seconds = 1
[rooms.rules."dash-*"]
send = "server"
[control]
socket = "{control}"
[metrics]
listen = ""
"""
    chatd = chatd_factory(config).start()
    return {"port": port, "key": key, "control": control, "chatd": chatd, "dir": tmp_path}


def open_ws(port, query="", **kwargs):
    return connect(f"ws://127.0.0.1:{port}/chat?{query}", origin=f"http://localhost:{port}", open_timeout=10, **kwargs)


def until(ws, type_, timeout=10):
    while True:
        event = json.loads(ws.recv(timeout=timeout))
        if event["type"] == type_:
            return event


def close_of(ws, timeout=10):
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else None


def refusal(port, query="", **kwargs):
    with pytest.raises(InvalidStatus) as info:
        open_ws(port, query, **kwargs)
    response = info.value.response
    return response.status_code, response.body.decode().strip()


def test_the_three_ways_to_present_a_token(server):
    port, key = server["port"], server["key"]
    token = sign(key, name="jay", rooms=["lobby"])
    # Sec-WebSocket-Protocol, as a browser can send it without putting the token in the URL.
    with open_ws(port, "name=ignored", subprotocols=["chatd", f"bearer.{token}"]) as ws:
        assert ws.subprotocol == "chatd"
        assert until(ws, "system")["message"] == "connected as jay"
    with open_ws(port, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert until(ws, "system")["message"] == "connected as jay"
    with open_ws(port, f"token={token}&room=lobby") as ws:
        assert until(ws, "history")["room"] == "lobby"
    # The token in a subprotocol is never echoed back; a subprotocol list without chatd is refused.
    assert refusal(port, subprotocols=[f"bearer.{token}"])[0] == 400
    # The JWT's rooms claim is enforced at the upgrade.
    assert refusal(port, f"token={token}&room=team-a") == (403, "room not allowed for this credential")


def test_hashed_static_credential(server):
    port = server["port"]
    with open_ws(port, "token=alice-secret&name=mallory&room=team-x") as ws:
        assert until(ws, "system")["message"] == "connected as alice"
        ws.send(json.dumps({"type": "join", "room": "ops"}))
        assert until(ws, "error")["code"] == "forbidden"
        ws.send(json.dumps({"type": "join", "room": "dash-1"}))
        assert until(ws, "error")["code"] == "forbidden"  # not in alice's rooms either
    assert refusal(port, "token=" + hashlib.sha256(b"alice-secret").hexdigest())[0] == 401
    assert refusal(port, "token=dev-token") == (401, "missing or invalid token")


def test_jwt_refusals(server):
    port, key = server["port"], server["key"]
    assert refusal(port, "token=" + sign(key, seconds=-5)) == (401, "token expired")
    assert refusal(port, "token=" + sign(key, iss="evil")) == (401, "token issuer not accepted")
    assert refusal(port, "token=" + sign(key, aud="other")) == (401, "token audience not accepted")
    assert refusal(port, "token=" + sign(key, nbf=int(time.time()) + 600)) == (401, "token not yet valid (nbf)")
    assert refusal(port, "token=" + sign(Ed25519PrivateKey.generate())) == (401, "invalid token signature")
    hs = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "k" * 40, algorithm="HS256")
    assert refusal(port, "token=" + hs) == (401, "invalid token signature")
    unsigned = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert refusal(port, "token=" + unsigned) == (401, "invalid token signature")
    logged = "".join(server["chatd"].lines)
    assert "eyJ" not in logged  # tokens never reach the log


def test_expiry_mid_session_and_revocation_by_reload(server):
    port, key, control, tmp = server["port"], server["key"], server["control"], server["dir"]
    short = open_ws(port, "token=" + sign(key, seconds=2, name="brief"))
    long = open_ws(port, "token=" + sign(key, name="long"))
    static = open_ws(port, "token=alice-secret")
    for ws in (short, long, static):
        until(ws, "history")
    assert close_of(short) == (1008, "credential expired")

    # Rotating the JWT key ends sessions whose token the new key does not verify.
    new_ed25519(tmp / "jwt.pem")
    r = chatctl("reload", socket_path=control)
    assert r.returncode == 0, r.stderr
    assert close_of(long) == (1008, "credential revoked")
    static.send(json.dumps({"type": "message", "text": "still here"}))
    assert until(static, "message")["message"]["text"] == "still here"

    # A key file that cannot be used fails the reload and keeps the running configuration.
    (tmp / "jwt.pem").write_text("not a key\n")
    r = chatctl("reload", socket_path=control)
    assert r.returncode != 0 and "auth.jwt.key_file" in (r.stdout + r.stderr)
    static.send(json.dumps({"type": "message", "text": "unaffected"}))
    assert until(static, "message")["message"]["text"] == "unaffected"
    static.close()


def test_a_session_renewed_in_band_outlives_its_tokens(server):
    port, key = server["port"], server["key"]
    first = sign(key, seconds=3, name="renewed")
    first_exp = jwt.decode(first, options={"verify_signature": False})["exp"]
    ws = open_ws(port, "token=" + first)
    witness = open_ws(port, "token=alice-secret")
    until(ws, "history")
    until(witness, "history")
    for _ in range(3):
        notice = until(ws, "expiring")
        assert 0 <= notice["in"] <= 1  # refresh_ahead_seconds before the end
        fresh = sign(key, seconds=3, name="renewed")
        ws.send(json.dumps({"type": "refresh", "token": fresh}))
        assert until(ws, "refreshed")["exp"] == jwt.decode(fresh, options={"verify_signature": False})["exp"]
    assert time.time() > first_exp  # past the first token's end, still connected
    ws.send(json.dumps({"type": "message", "text": "after three refreshes"}))
    assert until(ws, "message")["message"]["text"] == "after three refreshes"
    assert until(witness, "message")["message"]["text"] == "after three refreshes"

    # A new token's rooms apply at once: a room it does not allow is left.
    ws.send(json.dumps({"type": "join", "room": "team-a"}))
    until(ws, "history")
    ws.send(json.dumps({"type": "refresh", "token": sign(key, seconds=3, name="renewed", rooms=["lobby"])}))
    assert until(ws, "left") == {"type": "left", "room": "team-a", "reason": "forbidden"}
    until(ws, "refreshed")

    # Another user's token, one that does not verify, and one that is not a JWT are refused;
    # the session keeps its token and ends when that does.
    for token in (sign(key, seconds=600, sub="u-2"), sign(Ed25519PrivateKey.generate(), seconds=600), "not-a-jwt"):
        ws.send(json.dumps({"type": "refresh", "token": token}))
        assert until(ws, "error")["code"] == "refresh_rejected"
    until(ws, "expiring")
    assert close_of(ws) == (1008, "credential expired")

    # A static credential has nothing to refresh; a refresh without a token is a bad field.
    witness.send(json.dumps({"type": "refresh", "token": sign(key)}))
    assert until(witness, "error")["code"] == "refresh_rejected"
    witness.send(json.dumps({"type": "refresh"}))
    assert until(witness, "error")["code"] == "bad_field"
    witness.send(json.dumps({"type": "message", "text": "still chatting"}))
    assert until(witness, "message")["message"]["text"] == "still chatting"
    witness.close()


def test_plain_tokens_are_warned_about(chatd_factory):
    port = free_port()
    chatd = chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["dev-token"]
[metrics]
listen = ""
[control]
socket = ""
""").start()
    assert any("plain tokens" in line and "development only" in line for line in chatd.lines)
