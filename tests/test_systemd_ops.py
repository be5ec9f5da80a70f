"""chatd run the systemd way, with real systemd tools: systemd-socket-activate passes the
sockets, a datagram NOTIFY_SOCKET receives sd_notify, chatctl drives the control socket."""
import json
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, ROOT, chatctl, free_port
from wsclient import Chat


class NotifyReader:
    """A datagram socket set as NOTIFY_SOCKET; collects what chatd sends."""

    def __init__(self, directory):
        self.path = str(Path(directory) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = queue.Queue()
        self.seen = []
        self.running = True
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        while self.running:
            try:
                self.messages.put(self.sock.recv(4096).decode())
            except (socket.timeout, OSError):
                continue

    def wait_for(self, predicate, timeout=15):
        """The first message (after those already consumed) for which predicate is true."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching sd_notify message; saw {self.seen}")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(message)
            if predicate(message):
                return message

    def close(self):
        self.running = False
        self.sock.close()


def write_config(path, port_unused, control, tokens='["dev-token"]', extra="", origin_port=None):
    origin_port = origin_port or port_unused
    path.write_text(f"""
[server]
listen = "127.0.0.1:{port_unused}"
drain_seconds = 3
[auth]
tokens = {tokens}
allowed_origins = ["http://localhost:{origin_port}"]
[control]
socket = "{control}"
[metrics]
listen = ""
[history]
path = "{path.parent}/history.sqlite"
{extra}
""")


@pytest.fixture
def workdir():
    # Under /tmp with mode 0755 so that an unprivileged user can reach the control socket.
    d = Path(tempfile.mkdtemp(prefix="chatd-ops-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_socket_activation_notify_watchdog_reload_and_stop(workdir):
    http_port, metrics_port, unused_port = free_port(), free_port(), free_port()
    control = workdir / "control.sock"
    config = workdir / "chatd.toml"
    write_config(config, unused_port, control, origin_port=http_port)
    notify = NotifyReader(workdir)
    proc = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{http_port}", "-l", f"127.0.0.1:{metrics_port}",
         "--fdname=http:metrics", "-E", f"NOTIFY_SOCKET={notify.path}", "-E", "WATCHDOG_USEC=1000000",
         str(BIN / "chatd"), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        # systemd-socket-activate says when each socket listens ("Listening on … as N.").
        listening = 0
        while listening < 2:
            line = proc.stdout.readline()
            assert line, "systemd-socket-activate exited"
            listening += "Listening on" in line
        # The first connection starts chatd, which serves it on the passed socket.
        alice = Chat(http_port, name="alice")
        ready = notify.wait_for(lambda m: "READY=1" in m)
        assert "STATUS=" in ready
        # Nothing was bound from the config: the passed sockets replaced it.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", unused_port), timeout=2)
        # Metrics on the fd named "metrics".
        body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert "chatd_connections 1" in body
        # The watchdog is pinged (WATCHDOG_USEC=1 s: every 0.5 s), and STATUS follows the count.
        notify.wait_for(lambda m: m == "WATCHDOG=1")
        bob = Chat(http_port, name="bob")
        notify.wait_for(lambda m: m.startswith("STATUS=2 connections"))

        # SIGHUP with a changed file: RELOADING=1 with MONOTONIC_USEC, then READY=1; no drop.
        write_config(config, unused_port, control, tokens='["dev-token", "second"]', extra="[limits]\nrate_messages = 30\n",
                 origin_port=http_port)
        os.kill(chatd_pid(proc), signal.SIGHUP)
        reloading = notify.wait_for(lambda m: "RELOADING=1" in m)
        assert "MONOTONIC_USEC=" in reloading
        notify.wait_for(lambda m: "READY=1" in m)
        alice.send("after reload")
        assert bob.message() == "after reload"
        status = json.loads(chatctl("status", "--json", socket_path=control).stdout)["status"]
        assert status["configGeneration"] == 2 and status["lastReload"]["ok"]
        assert sorted(status["lastReload"]["applied"]) == ["auth.tokens", "limits.rate_messages"]

        # A broken file: chatctl reload fails with the reason; chatd keeps the old config.
        config.write_text(config.read_text() + "\n[limits]\nrate_messages = -1\n")
        broken = chatctl("reload", socket_path=control)
        assert broken.returncode == 1
        assert "TOML syntax error" in broken.stderr or "rate_messages" in broken.stderr
        alice.send("still fine")
        assert bob.message() == "still fine"
        status = json.loads(chatctl("status", "--json", socket_path=control).stdout)["status"]
        assert status["configGeneration"] == 2 and not status["lastReload"]["ok"]

        # SIGTERM: STOPPING=1, every client gets 1001, exit 0.
        os.kill(chatd_pid(proc), signal.SIGTERM)
        notify.wait_for(lambda m: "STOPPING=1" in m)
        assert alice.close_code() == 1001
        assert bob.close_code() == 1001
        assert proc.wait(timeout=15) == 0
        assert not control.exists()
    finally:
        notify.close()
        if proc.poll() is None:
            proc.kill()
        output = proc.stdout.read() if proc.stdout else ""
        print(output)


def chatd_pid(proc):
    # systemd-socket-activate execs chatd in place: the pid is chatd's.
    return proc.pid


def test_sighup_before_ready_does_not_kill(workdir):
    port = free_port()
    control = workdir / "control.sock"
    config = workdir / "chatd.toml"
    write_config(config, port, control)
    proc = subprocess.Popen([str(BIN / "chatd"), "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()  # the first log line comes before readiness
        assert first
        proc.send_signal(signal.SIGHUP)
        for line in proc.stdout:
            if "chatd ready" in line:
                break
        assert proc.poll() is None
        assert chatctl("smoke", "--url", f"ws://127.0.0.1:{port}/chat", "--origin", f"http://localhost:{port}").returncode == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_second_signal_exits_at_once(workdir):
    port = free_port()
    config = workdir / "chatd.toml"
    write_config(config, port, workdir / "control.sock", extra="")
    config.write_text(config.read_text().replace("drain_seconds = 3", "drain_seconds = 60"))
    proc = subprocess.Popen([str(BIN / "chatd"), "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "chatd ready" in line:
                break
        # A client that never answers the close keeps the drain waiting…
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall(f"GET /chat?token=dev-token HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    f"Origin: http://localhost:{port}\r\n\r\n".encode())
        assert b"101" in raw.recv(4096)
        proc.send_signal(signal.SIGTERM)
        for line in proc.stdout:
            if "stopping on signal" in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) in (0, 1)
        raw.close()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_every_chatctl_command(chatd_factory, workdir):
    port = free_port()
    control = workdir / "control.sock"
    config_text = f"""
[server]
listen = "127.0.0.1:{port}"
[control]
socket = "{control}"
[metrics]
listen = ""
"""
    chatd_factory(config_text).start()
    assert stat.S_IMODE(os.stat(control).st_mode) == 0o660

    status = chatctl("status", socket_path=control)
    assert status.returncode == 0 and "version" in status.stdout and "generation 1" in status.stdout
    a = Chat(port, name="alice", room="r1")
    b = Chat(port, name="bob", room="r2")
    a.send("hello")
    a.message()

    conns = json.loads(chatctl("connections", "--json", socket_path=control).stdout)["connections"]
    assert sorted(c["name"] for c in conns) == ["alice", "bob"]
    only_r1 = chatctl("connections", "--room", "r1", socket_path=control)
    assert only_r1.returncode == 0 and "alice" in only_r1.stdout and "bob" not in only_r1.stdout
    rooms = chatctl("rooms", socket_path=control)
    assert rooms.returncode == 0 and "r1" in rooms.stdout and "r2" in rooms.stdout

    alice_id = next(c["id"] for c in conns if c["name"] == "alice")
    kicked = chatctl("kick", alice_id, "--reason", "be nice", socket_path=control)
    assert kicked.returncode == 0 and "kicked 1" in kicked.stdout
    assert a.close_code() == 1008
    assert chatctl("kick", "--user", "guest:bob", socket_path=control).returncode == 0
    assert b.close_code() == 1008
    missing = chatctl("kick", "--user", "nobody-here", socket_path=control)
    assert missing.returncode == 1 and "no connection matches" in missing.stderr
    assert chatctl("kick", socket_path=control).returncode == 64  # usage

    reload = chatctl("reload", socket_path=control)
    assert reload.returncode == 0 and "generation 2" in reload.stdout
    assert chatctl("smoke", "--url", f"ws://127.0.0.1:{port}/chat").returncode == 0


def test_chatctl_without_a_daemon(workdir):
    r = chatctl("status", socket_path=workdir / "absent.sock")
    assert r.returncode == 3 and "not running" in r.stderr
    # A socket file nobody listens on (a crashed daemon's leftover).
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(workdir / "stale.sock"))
    leftover.close()
    r = chatctl("reload", socket_path=workdir / "stale.sock")
    assert r.returncode == 3 and "not running" in r.stderr


def test_control_socket_refuses_other_users(chatd_factory, workdir):
    port = free_port()
    control = workdir / "control.sock"
    chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
[control]
socket = "{control}"
allowed_groups = []
[metrics]
listen = ""
""").start()
    # The file mode (0660, root's) stops an unprivileged user first…
    r = chatctl("status", socket_path=control, user="nobody")
    assert r.returncode == 4 and "permission denied" in r.stderr
    # …and with the mode opened up, the peer-credential check still refuses, with an answer.
    os.chmod(control, 0o666)
    r = chatctl("status", socket_path=control, user="nobody")
    assert r.returncode == 4 and "chatd refused" in r.stderr and "uid" in r.stderr
    # Root is served.
    assert chatctl("status", socket_path=control).returncode == 0
