"""Issue 13, items 7 and 11, with the real binary: every numeric key's extremes through
`chatd --check-config`, a running chatd reloaded (SIGHUP) to an out-of-range file and to an
in-range extreme, and startup failures that say what failed with the right exit status."""
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, ROOT, RawTOML, free_port, shipped_config, toml_set
from wsclient import Chat

EX_CONFIG = 78

# The ranges as docs/configuration.md gives them (ChatConfigTests holds that table to the
# one list in Sources/ChatConfig/NumericKeys.swift, so walking it walks the list).
ROW = re.compile(r"^\| `([a-z0-9_.A-Z]+)` \| (?:array of )?(integer|number)s? ([0-9.]+)…([0-9.]+)")


def numeric_keys():
    keys = []
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            key, kind, lo, hi = m.groups()
            keys.append((key, kind, lo, hi))
    # A room's own retention policy is documented "as above": same ranges.
    for key, kind, lo, hi in list(keys):
        if key in ("retention.max_messages", "retention.max_age_hours"):
            keys.append((key.replace("retention.", "retention.rooms.NAME."), kind, lo, hi))
    return keys


NUMERIC = numeric_keys()

# Neighbours a key needs to be valid alone (as NumericKey.companions says).
COMPANIONS = {
    "auth.jwt.leeway_seconds": ['algorithm = "HS256"', 'key_file = "jwt.secret"'],
    "auth.jwt.refresh_ahead_seconds": ['algorithm = "HS256"', 'key_file = "jwt.secret"'],
    "cluster.heartbeat_seconds": ["node_timeout_seconds = 7200"],
    "cluster.node_timeout_seconds": ["heartbeat_seconds = 0.1"],
    "webhooks.NAME.timeout_seconds": ['url = "http://127.0.0.1:9/hook"', 'secret_file = "jwt.secret"'],
    "webhooks.NAME.max_age_seconds": ['url = "http://127.0.0.1:9/hook"', 'secret_file = "jwt.secret"'],
}


def key_file(key, literal):
    """A config that sets only `key`; returns its text and the key's line and name in it."""
    parts = key.split(".")
    section = ".".join({"NAME": "r", "PATTERN": '"*"'}.get(p, p) for p in parts[:-1])
    value = f"[{literal}]" if key == "control.allowed_uids" else literal
    lines = [f"[{section}]", *COMPANIONS.get(key, []), f"{parts[-1]} = {value}"]
    named = key.replace("NAME", "r").replace("PATTERN", "*")
    return "\n".join(lines) + "\n", len(lines), named


def check_config(path):
    return subprocess.run([str(BIN / "chatd"), "--check-config", "--config", str(path)],
                          capture_output=True, text=True, timeout=30)


def extremes(kind, lo, hi):
    if kind == "integer":
        lo, hi = int(lo), int(hi)
        return [str(lo), str(hi)], [str(lo - 1), str(hi + 1), "10000000000", "-10000000000"]
    lo, hi = float(lo), float(hi)
    return [repr(lo), repr(hi)], [repr(lo - 0.001), repr(hi + 0.001), "1e10", "-1e10", "nan", "inf"]


def test_the_docs_table_lists_the_numeric_keys():
    keys = {k for k, *_ in NUMERIC}
    assert len(keys) >= 38
    for key in ("limits.handshake_timeout_seconds", "limits.max_rooms", "retention.audit_max_age_hours",
                "control.allowed_uids", "rooms.rules.PATTERN.max_members", "cluster.node_timeout_seconds"):
        assert key in keys


@pytest.mark.parametrize("key,kind,lo,hi", NUMERIC, ids=[k for k, *_ in NUMERIC])
def test_check_config_accepts_the_bounds_and_refuses_beyond(tmp_path, key, kind, lo, hi):
    (tmp_path / "jwt.secret").write_text("s" * 40)
    path = tmp_path / "chatd.toml"
    accepted, refused = extremes(kind, lo, hi)
    for literal in accepted:
        text, _, _ = key_file(key, literal)
        path.write_text(text)
        r = check_config(path)
        assert r.returncode == 0, f"{key} = {literal}: {r.stderr}"
    for literal in refused:
        text, line, named = key_file(key, literal)
        path.write_text(text)
        r = check_config(path)
        assert r.returncode == EX_CONFIG, f"{key} = {literal} was accepted"
        assert f"{path}:{line}: {named}: must be " in r.stderr, r.stderr


def test_check_config_refuses_the_handshake_timeout_that_crashed_chatd(tmp_path):
    path = tmp_path / "chatd.toml"
    text = toml_set(shipped_config(free_port()), "limits.handshake_timeout_seconds", RawTOML("1e10"))
    path.write_text(text)
    line = next(i for i, l in enumerate(text.split("\n"), 1) if l.startswith("handshake_timeout_seconds ="))
    r = check_config(path)
    assert r.returncode == EX_CONFIG
    assert f"{path}:{line}: limits.handshake_timeout_seconds: must be at most 3600 seconds, got 10000000000" in r.stderr


def wait_for_line(chatd, text, after, timeout=10):
    """The first log line past index `after` containing `text` (chatd logs every reload)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in chatd.lines[after:]:
            if text in line:
                return line
        assert chatd.proc.poll() is None, "chatd exited:\n" + "".join(chatd.lines)
        time.sleep(0.02)
    raise AssertionError(f"no {text!r} in the log:\n" + "".join(chatd.lines[after:]))


def test_sighup_to_out_of_range_keeps_serving_and_an_in_range_extreme_applies(chatd_factory):
    port = free_port()
    chatd = chatd_factory(shipped_config(port)).start()
    alice = Chat(port, name="alice")
    alice.send("before")
    assert alice.message() == "before"

    # Out of range: the reload fails, naming file, line and key; chatd keeps serving.
    good = chatd.config.read_text()
    bad = toml_set(good, "limits.handshake_timeout_seconds", RawTOML("1e10"))
    chatd.config.write_text(bad)
    mark = len(chatd.lines)
    chatd.proc.send_signal(signal.SIGHUP)
    line = wait_for_line(chatd, "reload failed", mark)
    assert f"{chatd.config}:" in line and "limits.handshake_timeout_seconds" in line
    alice.send("after a bad reload")
    assert alice.message() == "after a bad reload"
    bob = Chat(port, name="bob")  # new connections too
    bob.close()
    assert chatd.proc.poll() is None

    # In range, at an extreme: applied at once (one character is the longest text now).
    chatd.config.write_text(toml_set(good, "limits.max_message_chars", 1))
    mark = len(chatd.lines)
    chatd.proc.send_signal(signal.SIGHUP)
    line = wait_for_line(chatd, "configuration reloaded", mark)
    assert "limits.max_message_chars" in line
    alice.send("xy")
    assert alice.until("error")["code"] == "too_large"
    alice.send("x")
    assert alice.message() == "x"

    # And the largest handshake timeout chatd accepts, with a connection made under it.
    chatd.config.write_text(toml_set(good, "limits.handshake_timeout_seconds", 3600))
    mark = len(chatd.lines)
    chatd.proc.send_signal(signal.SIGHUP)
    assert "limits.handshake_timeout_seconds" in wait_for_line(chatd, "configuration reloaded", mark)
    carol = Chat(port, name="carol")
    carol.send("hello")
    assert carol.message() == "hello"
    carol.close()
    alice.close()
    assert chatd.stop() == 0


def run_chatd(config_path, timeout=30):
    return subprocess.run([str(BIN / "chatd"), "--config", str(config_path)],
                          capture_output=True, text=True, timeout=timeout)


def test_a_missing_web_root_exits_78_naming_it(tmp_path):
    path = tmp_path / "chatd.toml"
    path.write_text(shipped_config(free_port(), history_path=tmp_path / "history.sqlite",
                                   overrides={"server.web_root": str(tmp_path / "no-such-www")}))
    r = run_chatd(path)
    assert r.returncode == EX_CONFIG, r.stderr
    assert f"server.web_root {tmp_path}/no-such-www" in r.stderr
    assert "No such file or directory" in r.stderr


def test_an_unusable_history_path_exits_78_naming_it(tmp_path):
    # A file where the history's folder should be: no user (root included) can create it.
    (tmp_path / "not-a-folder").write_text("")
    history = tmp_path / "not-a-folder" / "history.sqlite"
    path = tmp_path / "chatd.toml"
    path.write_text(shipped_config(free_port(), history_path=history,
                                   overrides={"server.web_root": str(ROOT / "web")}))
    r = run_chatd(path)
    assert r.returncode == EX_CONFIG, r.stderr
    assert f"history store at {history} (history.path)" in r.stderr


def test_an_address_in_use_exits_1_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "chatd.toml"
        text = shipped_config(port, history_path=tmp_path / "history.sqlite",
                              overrides={"server.web_root": str(ROOT / "web"), "server.listen": f"127.0.0.1:{port}"})
        path.write_text(text)
        r = run_chatd(path)
    assert r.returncode == 1, r.stderr
    assert f"cannot listen on server.listen 127.0.0.1:{port}" in r.stderr
    assert "Address already in use" in r.stderr
