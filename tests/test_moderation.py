"""chatctl's moderation commands against a running chatd: live clients and history."""
import json

from conftest import chatctl as run_chatctl, free_port
from wsclient import Chat


def chatctl(control, *args):
    return run_chatctl(*args, socket_path=control)


def history_texts(port, room="lobby"):
    from websockets.sync.client import connect
    ws = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name=observer&room={room}",
                 origin=f"http://localhost:{port}", open_timeout=10)
    try:
        while (event := json.loads(ws.recv(timeout=10)))["type"] != "history":
            pass
        return [m["text"] for m in event["messages"]]
    finally:
        ws.close()


def test_moderation_commands(chatd_factory, tmp_path):
    port = free_port()
    control = tmp_path / "control.sock"
    chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}"]
[control]
socket = "{control}"
[metrics]
listen = ""
""").start()
    alice, bob = Chat(port, name="alice"), Chat(port, name="bob")
    for text in ("hello", "spam 1", "spam 2"):
        (alice if text == "hello" else bob).send(text)
        alice.message()
    bob.until("message")  # bob has seen his own last message too

    # delete: gone from history, every member told.
    r = chatctl(control, "delete", "lobby", "2", "--reason", "spam")
    assert r.returncode == 0, r.stderr
    assert alice.until("deleted")["seq"] == 2
    assert history_texts(port) == ["hello", "spam 2"]
    assert chatctl(control, "delete", "lobby", "99").returncode == 1

    # mute / unmute.
    # By identity: bob is a guest of a plain token, so `guest:bob` (a bare `bob` would be
    # the credential bob, which does not exist here).
    r = chatctl(control, "mute", "guest:bob", "--for", "10m", "--reason", "cool down")
    assert r.returncode == 0 and "muted guest:bob for 10m" in r.stdout and "no client" not in r.stderr, r.stdout + r.stderr
    bob.send("muted?")
    assert bob.until("error")["code"] == "muted"
    assert chatctl(control, "unmute", "guest:bob").returncode == 0
    assert chatctl(control, "unmute", "guest:bob").returncode == 1  # not muted any more
    bob.send("back")
    assert alice.message() == "back"
    assert chatctl(control, "mute", "guest:bob", "--for", "soon").returncode == 64  # bad duration

    # purge-user: every message of bob's erased and counted.
    r = chatctl(control, "purge-user", "bob", "--reason", "erasure request")
    assert r.returncode == 0 and "erased 2 message(s) of bob" in r.stdout, r.stdout + r.stderr
    assert history_texts(port) == ["hello"]

    # audit: every action, with who did it.
    audit = json.loads(chatctl(control, "audit", "--json").stdout)["audit"]
    assert [a["action"] for a in audit] == ["delete", "mute", "unmute", "purge-user"]
    assert all(a["actor"].startswith("chatctl (root") for a in audit)
    assert audit[0]["reason"] == "spam"
    table = chatctl(control, "audit", "--since", "1h")
    assert table.returncode == 0 and "purge-user" in table.stdout

    # A display name typed where an identity is meant: the key applied is printed, with a warning.
    r = chatctl(control, "mute", "bob")
    assert r.returncode == 0 and "muted credential:bob until unmuted" in r.stdout, r.stdout
    assert "no client connected here answers to credential:bob" in r.stderr, r.stderr
    assert chatctl(control, "unmute", "credential:bob").returncode == 0
    alice.close()
    bob.close()
