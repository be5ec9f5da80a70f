"""Focused regressions for issue 13's HTTP side, on the real binary with the shipped config:
pipelined requests from a client that never reads (item 3) on the chat and metrics listeners,
the control socket flooded the same way, 1,000 slow upgrades from one address (item 8), and
`chatctl smoke` keeping the token out of the URL (item 10). Memory is chatd's VmRSS; a
witness from another address chats in another room the whole time."""
import json
import re
import resource
import select
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
from websockets.sync.client import connect

from conftest import BIN, free_port, shipped_config

MIB = 1024 * 1024
# Far under the hostile suite's 64 MiB: answering without backpressure grows by more than
# this in the 8 s flood even in a debug build (about +27 MiB), bounded answering by < 1 MiB.
RSS_BOUND = 16 * MIB
FLOOD_SECONDS = 8
HANDSHAKE = 10      # limits.handshake_timeout_seconds as shipped
WITNESS_ADDRESS = "127.0.0.2"


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


class Witness(threading.Thread):
    """Two clients in room "witness" from another address: one sends, both must see it; the
    round trips are recorded."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.rtts, self.errors = port, [], []
        self.stop = threading.Event()

    def client(self, name):
        ws = connect(f"ws://127.0.0.1:{self.port}/chat?name={name}&room=witness", origin=f"http://127.0.0.1:{self.port}",
                     subprotocols=["chatd", "bearer.dev-token"], source_address=(WITNESS_ADDRESS, 0), open_timeout=10)
        while json.loads(ws.recv(timeout=10))["type"] != "presence":
            pass
        return ws

    def run(self):
        try:
            a, b = self.client("wa"), self.client("wb")
            i = 0
            while not self.stop.is_set():
                text = f"w{i}"
                started = time.monotonic()
                a.send(json.dumps({"type": "message", "text": text}))
                for ws in (a, b):
                    while True:
                        event = json.loads(ws.recv(timeout=10))
                        if event["type"] == "message" and event["message"]["text"] == text:
                            break
                self.rtts.append(time.monotonic() - started)
                i += 1
                time.sleep(0.2)
            a.close()
            b.close()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def finish(self):
        self.stop.set()
        self.join(15)
        assert self.errors == [], self.errors
        assert len(self.rtts) >= 5, self.rtts
        return max(self.rtts)


@pytest.fixture
def chatd(chatd_factory, tmp_path):
    def start(**overrides):
        port, metrics_port = free_port(), free_port()
        control = tmp_path / "control.sock"
        config = shipped_config(port, metrics_port=metrics_port, control_socket=control, overrides={
            # The witness's five messages a second are not what is tested here.
            "limits.rate_messages": 1000, "limits.user_rate_messages": 10000, "limits.ip_rate_messages": 10000,
            **overrides})
        server = chatd_factory(config).start()
        return server, port, metrics_port, control

    return start


def flood_without_reading(sock, request, seconds):
    """Writes pipelined requests for `seconds` without reading a byte; returns how many were
    taken by the kernel (chatd stops reading, so this stops growing)."""
    sock.setblocking(False)
    batch = request * 2000
    sent, view, deadline = 0, memoryview(batch), time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            n = sock.send(view)
            sent += n
            view = view[n:] if n < len(view) else memoryview(batch)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    return sent // len(request)


def cut_within(sock, seconds):
    """True once chatd closed the socket (FIN or reset), seen without reading: reading would
    let chatd answer more of what the flooder sent."""
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if poller.poll(100):
            return True
    return False


@pytest.mark.parametrize("listener", ["chat", "metrics"])
def test_pipelined_requests_from_a_client_that_never_reads_are_bounded(chatd, listener):
    server, port, metrics_port, _ = chatd()
    witness = Witness(port)
    witness.start()
    time.sleep(1)
    before = rss(server.proc.pid)
    target, request = (port, b"GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n") if listener == "chat" else \
        (metrics_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    sock = socket.create_connection(("127.0.0.1", target))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    taken = flood_without_reading(sock, request, FLOOD_SECONDS)
    during = rss(server.proc.pid)
    print(f"{listener}: {taken} requests taken, RSS {before / MIB:.1f} -> {during / MIB:.1f} MiB")
    assert during - before < RSS_BOUND, (before, during)
    # Idle (no answer can be written) for the handshake timeout since its last answer, near
    # the start of the flood: cut, with some slack.
    assert cut_within(sock, HANDSHAKE - FLOOD_SECONDS + 3), "the flooder was not cut off"
    sock.close()
    worst = witness.finish()
    print(f"{listener}: witness max {worst * 1000:.0f} ms")
    assert worst < 0.5, worst


def test_the_control_socket_flooded_without_reading_is_bounded_and_cut(chatd):
    server, port, _, control = chatd()
    witness = Witness(port)
    witness.start()
    time.sleep(1)
    before = rss(server.proc.pid)
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(control))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    taken = flood_without_reading(sock, b'{"v":1,"command":"status"}\n', FLOOD_SECONDS)
    during = rss(server.proc.pid)
    assert cut_within(sock, 10 - FLOOD_SECONDS + 3), "the control client was not cut off"
    sock.close()
    worst = witness.finish()
    print(f"control: {taken} requests taken, RSS {before / MIB:.1f} -> {during / MIB:.1f} MiB")
    assert during - before < RSS_BOUND, (before, during)
    # chatctl still works.
    r = subprocess.run([str(BIN / "chatctl"), "status", "--socket", str(control)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_a_thousand_slow_upgrades_from_one_address_are_capped(chatd):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    server, port, metrics_port, _ = chatd(**{"limits.handshake_timeout_seconds": 30})
    witness = Witness(port)
    witness.start()
    partial = f"GET /chat?name=slow HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n".encode()
    socks = []
    try:
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", port))
            socks.append(s)
            try:
                s.sendall(partial)
            except OSError:
                pass  # closed at accept already
        time.sleep(1)
        open_ones = 0
        for s in socks:
            s.setblocking(False)
            try:
                open_ones += s.recv(1) != b""
            except BlockingIOError:
                open_ones += 1
            except OSError:
                pass
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        refused = int(float(re.search(r'chatd_connections_refused_total\{reason="pending_per_ip"\} (\S+)', metrics).group(1)))
        # The shipped max_pending_per_ip (32) are kept; the others were closed at accept.
        assert open_ones == 32, open_ones
        assert refused == 1000 - 32, refused
    finally:
        for s in socks:
            s.close()
    assert witness.finish() < 0.5


def test_chatctl_smoke_sends_the_token_as_a_subprotocol():
    """The request smoke sends, as a listener sees it: no token in the URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    seen = {}

    def serve():
        conn, _ = listener.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        seen["request"] = data.decode()
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope\n")
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    r = subprocess.run([str(BIN / "chatctl"), "smoke", "--url", f"ws://127.0.0.1:{port}/chat", "--token", "smoke-secret-1"],
                       capture_output=True, text=True, timeout=30)
    t.join(10)
    listener.close()
    assert r.returncode == 1 and "401" in r.stderr
    request_line, _, headers = seen["request"].partition("\r\n")
    assert "smoke-secret-1" not in request_line and "token=" not in request_line, request_line
    assert re.search(r"(?im)^Sec-WebSocket-Protocol: chatd, bearer\.smoke-secret-1\r?$", headers), headers
