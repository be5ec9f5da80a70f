"""The hostile-client suite (issue 13): for every input path of chatd — WebSocket (/chat),
plain HTTP (static files, /healthz), the publish API, the admin API (/api/admin/*), the
control socket and the metrics listener — a client that floods without reading, one that stalls mid-request, and one that
is closed (FIN, or RST with SO_LINGER 0) while chatd has data queued for it.

chatd is the real binary, started from the shipped etc/chatd.toml with short timeouts
substituted (ping interval 1 s, handshake timeout 2 s) and rate limits raised where a flood
or the witness must get past them. Every case asserts, with the bounds below (they are also
in docs/security.md, "Hostile clients"):

- memory: chatd's RSS (VmRSS) stays within baseline + 64 MiB during the attack and after it,
  and once the offender is gone it is back within baseline + RETURN_MIB;
- cut-off: chatd closes the offender (lets go of its socket, or sends it FIN/RST) in time:
    * a stall: limits.handshake_timeout_seconds (+1 s) after connecting on HTTP, the publish
      API, the admin API and the metrics listener; 10 s (+1 s) after the last byte on the control socket;
      2 × heartbeat.ping_interval_seconds (+1 s) after the upgrade for a WebSocket client that
      neither reads nor answers pings;
    * a WebSocket flooder that never reads: chatd stops reading from it once more than
      limits.send_buffer_bytes are unsent (requests already read wait; more than 4 × that
      plus a frame of them closes it with 1008), and hard-closes the TCP connection at most 2 s after it started closing; as it never
      answers a ping either, it is gone within 2 × ping interval + 1 s + 2 s of its upgrade;
    * a flooder on the other paths becomes a stall once chatd stops reading from it (and an
      HTTP or publish connection ends after 1000 answers): HTTP and publish connections are
      (and admin API) closed by the handshake timeout (+1 s) after connecting; the
      metrics listener and the control socket within their stall bound after the flooder's
      last byte got through;
- a connection closed while backed up is gone from chatd (its socket released, and for a
  WebSocket from `chatctl connections` and /healthz's count) within 2 s of the close;
- a witness — two WebSocket clients chatting in another room, from another address, the whole
  time — sees every round trip (send → both have the message) under 250 ms.

Set HOSTILE_RESULTS=path to append one JSON line of measurements per case (BENCHMARKS.md).
Everything is loopback-only and bounded: every loop has a deadline.
"""
import hashlib
import json
import os
import select
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import pytest
from websockets.sync.client import connect

from conftest import BIN, chatctl, free_port, shipped_config, toml_value, SHIPPED_CONFIG

MIB = 1024 * 1024
PING = 1            # heartbeat.ping_interval_seconds, substituted
HANDSHAKE = 2       # limits.handshake_timeout_seconds, substituted
CONTROL_IDLE = 10   # the control socket's idle timeout
CLOSE_DEADLINE = 2  # a closing WebSocket is hard-closed at most this long after closing starts
SEND_BUFFER = int(toml_value(SHIPPED_CONFIG.read_text(), "limits.send_buffer_bytes"))
RSS_BOUND = 64 * MIB
RETURN_MIB = 16
WITNESS_RTT = 0.250
GONE_WITHIN = 2.0
FLOOD_SECONDS = 10
SLACK = 1.0         # scheduling slack on the cut-off bounds (timers per event loop, polling)

API_KEY = "hostile-suite-publish-key"
ADMIN_TOKEN = "hostile-suite-admin-token"
ATTACKER = "127.0.0.1"   # the attackers' address; the witness comes from another one
WITNESS_ADDRESS = "127.0.0.2"

BASE_OVERRIDES = {
    "limits.handshake_timeout_seconds": HANDSHAKE,
    "heartbeat.ping_interval_seconds": PING,
    # The witness sends five messages a second for the whole case.
    "limits.rate_messages": 100,
    "limits.user_rate_messages": 1000,
    "limits.ip_rate_messages": 1000,
}
# A history flood is only a flood if the requests are answered, not refused as rate_limited.
UNLIMITED = {"limits.rate_messages": 100000, "limits.user_rate_messages": 100000, "limits.ip_rate_messages": 1000000}


# --- measuring chatd ------------------------------------------------------------------------

def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class RSSMonitor(threading.Thread):
    """Samples chatd's RSS every 20 ms; `peak` is the largest sample."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopping = pid, 0, threading.Event()

    def run(self):
        while not self.stopping.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, RuntimeError):
                return
            self.stopping.wait(0.02)

    def stop(self):
        self.stopping.set()
        self.join(5)
        return self.peak


def socket_inodes(pid):
    """The inodes of the sockets chatd holds open."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            held.add(int(link[8:-1]))
    return held


def tcp_row(local_port, remote):
    """The /proc/net/tcp row of chatd's end of a loopback connection from `remote`."""
    def hexaddr(ip, port):
        return "".join(f"{int(p):02X}" for p in reversed(ip.split("."))) + f":{port:04X}"
    want_local, want_remote = hexaddr("127.0.0.1", local_port), hexaddr(*remote)
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            f = line.split()
            if f[1] == want_local and f[2] == want_remote:
                return f
    return None


def unix_peer_inode(sock):
    """The inode of chatd's end of a control-socket connection (from `ss`)."""
    mine = os.fstat(sock.fileno()).st_ino
    out = subprocess.run(["ss", "-xnH"], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[-1] == str(mine) and f[-3].isdigit():
            return int(f[-3]), int(f[3])  # inode, Send-Q
    return None, 0


class Offender:
    """An attacking socket and what chatd does with it: when chatd stops holding its end
    (`released_at`) and when the attacker first sees chatd's FIN or RST (`hangup_at`)."""

    def __init__(self, pid, sock, server_port=None):
        self.pid, self.sock, self.server_port = pid, sock, server_port
        self.opened_at = time.monotonic()
        self.inode = None
        self.released_at = self.hangup_at = None
        self.lock = threading.Lock()
        self.closed_by_us = False
        self.stopping = threading.Event()
        self.watcher = None

    def server_inode(self):
        if self.server_port is None:
            inode, _ = unix_peer_inode(self.sock)
            return inode
        row = tcp_row(self.server_port, self.sock.getsockname())
        return int(row[9]) if row else None

    def queued_by_chatd(self):
        """Bytes chatd's kernel socket has not yet sent to us (tx_queue / Send-Q)."""
        if self.server_port is None:
            return unix_peer_inode(self.sock)[1]
        row = tcp_row(self.server_port, self.sock.getsockname())
        return int(row[4].split(":")[0], 16) if row else 0

    def watch(self):
        """Starts watching once chatd holds the socket (it has accepted it). chatd may cut a
        connection off before the first look — a flood written with the upgrade request can
        be refused within a millisecond of the 101 — and then the time of that look stands
        for both the hangup and the release: a later time than the real one, so a bound
        checked against it still holds for the real one."""
        hangup = select.poll()
        hangup.register(self.sock.fileno(), select.POLLRDHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            inode = self.server_inode()
            if inode and inode in socket_inodes(self.pid):
                self.inode = inode
                break
            if hangup.poll(0):
                self.hangup_at = self.released_at = time.monotonic()
                return self
            time.sleep(0.01)
        assert self.inode, "chatd did not accept the attacker's connection"
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()
        return self

    def _watch(self):
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLRDHUP)
        while not self.stopping.is_set():
            now = time.monotonic()
            with self.lock:
                if not self.closed_by_us and self.hangup_at is None and poller.poll(0):
                    self.hangup_at = now
            if self.released_at is None and self.inode not in socket_inodes(self.pid):
                self.released_at = now
                return
            self.stopping.wait(0.01)

    @property
    def cut_off_at(self):
        times = [t for t in (self.released_at, self.hangup_at) if t is not None]
        return min(times) if times else None

    def wait_cut_off(self, deadline):
        while self.cut_off_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.cut_off_at

    def wait_released(self, deadline):
        while self.released_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.released_at

    def close(self, how):
        """Closes our end: "fin" (shutdown, then close: the kernel sends FIN, and RST for
        data we never read) or "rst" (SO_LINGER 0: RST only)."""
        with self.lock:
            self.closed_by_us = True
            if how == "rst":
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            else:
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            self.sock.close()
        return time.monotonic()

    def stop(self):
        self.stopping.set()
        if self.watcher:
            self.watcher.join(2)
        with self.lock:
            if not self.closed_by_us:
                self.closed_by_us = True
                self.sock.close()


# --- the witness ----------------------------------------------------------------------------

class Witness(threading.Thread):
    """Two clients in room "witness", from another address than the attackers, taking turns:
    one sends, and the round trip ends when both have the message. Every round trip counts."""

    def __init__(self, port):
        super().__init__(daemon=True)
        uri = f"ws://127.0.0.1:{port}/chat?token=dev-token&room=witness&name="
        kwargs = dict(origin=f"http://localhost:{port}", open_timeout=10, source_address=(WITNESS_ADDRESS, 0))
        self.clients = [connect(uri + "w1", **kwargs), connect(uri + "w2", **kwargs)]
        self.rtts, self.failures = [], []
        self.stopping, self.first = threading.Event(), threading.Event()

    @staticmethod
    def _await(ws, text, deadline):
        while True:
            event = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if event.get("type") == "message" and event["message"]["text"] == text:
                return
            if event.get("type") == "error":
                raise AssertionError(f"witness refused: {event}")

    def run(self):
        i = 0
        while not self.stopping.is_set():
            i += 1
            sender = self.clients[i % 2]
            text = f"round trip {i}"
            started = time.monotonic()
            try:
                sender.send(json.dumps({"type": "message", "text": text}))
                for ws in self.clients:
                    self._await(ws, text, started + 5)
                self.rtts.append(time.monotonic() - started)
            except Exception as e:  # noqa: BLE001 - a lost witness is a finding, reported below
                self.failures.append(f"round trip {i}: {type(e).__name__}: {e}")
                self.rtts.append(time.monotonic() - started)
                return
            finally:
                self.first.set()
            self.stopping.wait(0.1)

    def stop(self):
        self.stopping.set()
        self.join(10)
        for ws in self.clients:
            ws.close()


# --- chatd ----------------------------------------------------------------------------------

@dataclass
class Env:
    chatd: object
    port: int
    metrics_port: int
    control: str

    @property
    def pid(self):
        return self.chatd.proc.pid

    def healthz_clients(self):
        """/healthz's client count, or None when chatd does not answer within 5 s."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5, source_address=(WITNESS_ADDRESS, 0)) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            return json.loads(data.split(b"\r\n\r\n", 1)[1])["clients"]
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def connection_names(self):
        out = chatctl("connections", socket_path=self.control)
        assert out.returncode == 0, out.stderr
        return out.stdout


def start_chatd(chatd_factory, tmp_path, overrides):
    port, metrics_port = free_port(), free_port()
    control = str(tmp_path / "control.sock")
    key_sha = hashlib.sha256(API_KEY.encode()).hexdigest()
    admin_sha = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    text = shipped_config(port, metrics_port=metrics_port, control_socket=control,
                          overrides={**BASE_OVERRIDES, **overrides},
                          extra=f'[api.keys.feeder]\nkey_sha256 = "{key_sha}"\nrooms = ["*"]\n'
                                f'[auth.credentials.root]\ntoken_sha256 = "{admin_sha}"\nrole = "admin"\n')
    return Env(chatd_factory(text).start(), port, metrics_port, control)


# --- the attackers' bytes -------------------------------------------------------------------

def ws_frame(opcode, payload, mask=b"\x37\xfa\x21\x3d", fin=True):
    """One masked client frame (FIN set unless `fin` is false)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_upgrade(env, name="attacker", room="hostile", then=b""):
    """An upgraded attacker; `then` goes out in the same write as the request."""
    s = tcp(env.port)
    s.sendall((f"GET /chat?token=dev-token&name={name}&room={room} HTTP/1.1\r\nHost: 127.0.0.1:{env.port}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: http://localhost:{env.port}\r\n\r\n").encode() + then)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)  # byte by byte: nothing after the head is read
        assert chunk, "chatd closed during the upgrade"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


# An attacker's receive buffer is kept small (the kernel doubles it, and keeps a floor), so
# that what chatd sends it backs up in chatd, not in the attacker's kernel.
ATTACKER_RCVBUF = 4096


def tcp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ATTACKER_RCVBUF)
    s.settimeout(10)
    s.bind((ATTACKER, 0))
    s.connect(("127.0.0.1", port))
    return s


def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ATTACKER_RCVBUF)
    s.settimeout(10)
    s.connect(path)
    return s


def http_get(path):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def publish_request(text="flood"):
    body = json.dumps({"room": "feed", "text": text}).encode()
    return (f"POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def admin_get(path):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode()


def admin_action(action):
    """A console action: a kick of nobody (answered 404 by the control dispatcher, audited only
    when someone is kicked), so a flood of them costs chatd the whole path but no state."""
    body = json.dumps(action).encode()
    return (f"POST /api/admin/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


CONTROL_STATUS = b'{"v":1,"command":"status"}\n'


@dataclass
class Flood:
    sent: int = 0
    started: float = 0.0
    last_progress: float = 0.0
    ended: float = 0.0
    reason: str = "time"


def flood(offender, chunk, seconds):
    """Writes `chunk` over and over for `seconds`, never reading, until chatd cuts it off."""
    s = offender.sock
    s.setblocking(False)
    poller = select.poll()
    poller.register(s.fileno(), select.POLLOUT)
    f = Flood(started=time.monotonic())
    f.last_progress = f.started
    view, offset = memoryview(chunk), 0
    while time.monotonic() - f.started < seconds:
        if offender.released_at is not None:
            f.reason = "released"
            break
        events = poller.poll(50)
        if not events:
            continue
        if events[0][1] & (select.POLLERR | select.POLLHUP):
            f.reason = "hangup"
            break
        try:
            n = s.send(view[offset:])
        except BlockingIOError:
            continue
        except OSError as e:
            f.reason = type(e).__name__
            break
        f.sent += n
        f.last_progress = time.monotonic()
        offset = (offset + n) % len(chunk)
    f.ended = time.monotonic()
    return f


# --- the cases ------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    path: str         # ws, http, publish, admin, control, metrics
    kind: str         # flood, stall, close
    connect: object   # env -> socket (already through any handshake)
    chunk: bytes = b""          # flood: what is written over and over
    partial: bytes = b""        # stall: the half request
    close: str = ""             # close: fin or rst
    flood_seconds: float = FLOOD_SECONDS
    # close: how much to write before closing (all of `chunk` once), so that the close, not
    # chatd's bound on requests waiting, ends the connection.
    close_after: bytes = b""
    overrides: dict = field(default_factory=dict)
    prepare: object = None      # env -> None, before the baseline
    # The cut-off bound in seconds and what it counts from: "open" (connect, or upgrade),
    # "last" (the flooder's last byte that got through).
    bound: float = 0.0
    since: str = "open"


def fill_history(env):
    """200 long messages in the attackers' room, so that each history request is answered
    with about 100 KB."""
    ws = connect(f"ws://127.0.0.1:{env.port}/chat?token=dev-token&room=hostile&name=filler",
                 origin=f"http://localhost:{env.port}", open_timeout=10, source_address=("127.0.0.3", 0))
    for i in range(200):
        ws.send(json.dumps({"type": "message", "text": f"{i:03d} " + "h" * 480}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        event = json.loads(ws.recv(timeout=30))
        if event.get("type") == "message" and event["message"]["text"].startswith("199 "):
            break
    ws.close()


def fill_members(env):
    """90 members of the attackers' room (under the per-address limits), with long names, so
    that each `members` answer is kilobytes."""
    env.members = [connect(f"ws://127.0.0.1:{env.port}/chat?token=dev-token&room=hostile&name=member-{i:03d}-" + "m" * 12,
                           origin=f"http://localhost:{env.port}", open_timeout=10, source_address=("127.0.0.4", 0))
                   for i in range(90)]


def warm(env, path):
    """One ordinary use of the path before the baseline, so that caches it fills once
    (static files, the metrics registry, the store) are not counted as the attack's."""
    if path in ("http", "ws"):
        with tcp(env.port) as s:
            s.sendall(b"GET /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
    elif path == "metrics":
        with tcp(env.metrics_port) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
    elif path == "publish":
        req = publish_request("warm up").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        with tcp(env.port) as s:
            s.sendall(req)
            while s.recv(65536):
                pass
    elif path == "control":
        assert chatctl("status", socket_path=env.control).returncode == 0
    elif path == "admin":
        with tcp(env.port) as s:
            s.sendall(admin_get("/api/admin/audit").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


WS_FLOOD_BOUND = 2 * PING + 1 + CLOSE_DEADLINE
# Each WebSocket flood chunk carries an unsolicited pong (RFC 6455 allows one): it must not
# count as an answer to the heartbeat, whose pings carry 8 random bytes the flooder never reads, so
# the heartbeat ends every flood whether or not chatd is still reading it.
PONG = ws_frame(0xA, b"")
PING_FRAMES = PONG + b"".join(ws_frame(0x9, b"%03d" % i + b"p" * 122) for i in range(500))
TEXT_FRAMES = PONG + ws_frame(0x1, b"x") * 10000
# A message in 128 frames (the most limits.max_fragments allows), over and over: every frame
# is a decode for chatd, so every frame costs quota, not every message.
FRAGMENT_FRAMES = PONG + (ws_frame(0x1, b"", fin=False) + ws_frame(0x0, b"", fin=False) * 126 + ws_frame(0x0, b"x")) * 80
HISTORY_REQUEST = ws_frame(0x1, b'{"type":"history","limit":200}')
HISTORY_FRAMES = PONG + HISTORY_REQUEST * 2000
# `members` as fast as it can be written: answered once every 2 s, refused in between.
MEMBERS_FRAMES = PONG + ws_frame(0x1, b'{"type":"members","nonce":"m"}') * 2000
PIPELINED_APP_JS = http_get("/app.js") * 2000
PIPELINED_PUBLISH = publish_request() * 500
PIPELINED_METRICS = http_get("/metrics") * 2000
# The admin API: authenticated reads (each answered from a task, the connections listing the
# largest), and actions.
PIPELINED_ADMIN = (admin_get("/api/admin/connections") + admin_get("/api/admin/audit?limit=500")
                   + admin_get("/api/admin/series")) * 700
PIPELINED_ADMIN_ACTIONS = admin_action({"command": "kick", "user": "guest:nobody"}) * 500


def ws_connect(env):
    return ws_upgrade(env)


def ws_connect_mid_join(env):
    """Frames right behind the upgrade request: they arrive while chatd still reads the
    room (used here for the first time) from the store, so they wait behind the join."""
    return ws_upgrade(env, room="hostile-fresh", then=TEXT_FRAMES[:60000])


def http_connect(env):
    return tcp(env.port)


def metrics_connect(env):
    return tcp(env.metrics_port)


def control_connect(env):
    return unix(env.control)


CASES = [
    # WebSocket: floods that never read (and so never answer a ping).
    Case("ws-flood-pings", "ws", "flood", ws_connect, chunk=PING_FRAMES, bound=WS_FLOOD_BOUND),
    Case("ws-flood-text-rate-limited", "ws", "flood", ws_connect, chunk=TEXT_FRAMES, bound=WS_FLOOD_BOUND),
    # The same flood while its join waits for the store: refused and cut off as fast, and its
    # loop's other connections not held up meanwhile (it once decoded 1 MiB per read pass).
    Case("ws-flood-during-join", "ws", "flood", ws_connect_mid_join, chunk=TEXT_FRAMES, bound=WS_FLOOD_BOUND),
    Case("ws-flood-fragments", "ws", "flood", ws_connect, chunk=FRAGMENT_FRAMES, bound=WS_FLOOD_BOUND),
    # Unsolicited pongs (RFC 6455 allows them): dozens in a read are refused like pings.
    Case("ws-flood-pongs", "ws", "flood", ws_connect, chunk=PONG * 10000, bound=WS_FLOOD_BOUND),
    Case("ws-flood-history", "ws", "flood", ws_connect, chunk=HISTORY_FRAMES, bound=WS_FLOOD_BOUND,
         overrides=UNLIMITED, prepare=fill_history),
    # A crowd's room listed over and over: each answer kilobytes for a request of a few bytes.
    Case("ws-flood-members", "ws", "flood", ws_connect, chunk=MEMBERS_FRAMES, bound=WS_FLOOD_BOUND,
         overrides=UNLIMITED, prepare=fill_members),
    # Half a frame (a 100-byte text frame's first 10 bytes), then silence: no reads, no pongs.
    Case("ws-stall-half-frame", "ws", "stall", ws_connect, partial=ws_frame(0x1, b"y" * 100)[:10],
         bound=2 * PING + 1),
    # 500 history requests (about 50 MB of answers), then the close: under chatd's bound on
    # requests waiting (each costs its bytes plus 64), which a flood would pass and be closed.
    Case("ws-close-fin", "ws", "close", ws_connect, close_after=PONG + HISTORY_REQUEST * 500, close="fin",
         overrides=UNLIMITED, prepare=fill_history),
    Case("ws-close-rst", "ws", "close", ws_connect, close_after=PONG + HISTORY_REQUEST * 500, close="rst",
         overrides=UNLIMITED, prepare=fill_history),
    # Plain HTTP: pipelined GET /app.js; half a head (of the page, and of an upgrade).
    Case("http-flood-app-js", "http", "flood", http_connect, chunk=PIPELINED_APP_JS, bound=HANDSHAKE + 1),
    Case("http-stall-half-head", "http", "stall", http_connect, partial=b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
         bound=HANDSHAKE + 1),
    Case("http-stall-half-upgrade", "http", "stall", http_connect,
         partial=b"GET /chat?token=dev-token HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n", bound=HANDSHAKE + 1),
    Case("http-close-fin", "http", "close", http_connect, chunk=PIPELINED_APP_JS, close="fin", flood_seconds=1),
    Case("http-close-rst", "http", "close", http_connect, chunk=PIPELINED_APP_JS, close="rst", flood_seconds=1),
    # The publish API: pipelined POSTs; half a body.
    Case("publish-flood", "publish", "flood", http_connect, chunk=PIPELINED_PUBLISH, bound=HANDSHAKE + 1),
    Case("publish-stall-half-body", "publish", "stall", http_connect, partial=publish_request("a half body")[:-12],
         bound=HANDSHAKE + 1),
    Case("publish-close-fin", "publish", "close", http_connect, chunk=PIPELINED_PUBLISH, close="fin", flood_seconds=1),
    Case("publish-close-rst", "publish", "close", http_connect, chunk=PIPELINED_PUBLISH, close="rst", flood_seconds=1),
    # The admin API: pipelined authenticated reads and actions; half an action's body.
    Case("admin-flood-reads", "admin", "flood", http_connect, chunk=PIPELINED_ADMIN, bound=HANDSHAKE + 1),
    Case("admin-flood-actions", "admin", "flood", http_connect, chunk=PIPELINED_ADMIN_ACTIONS, bound=HANDSHAKE + 1),
    Case("admin-stall-half-body", "admin", "stall", http_connect,
         partial=admin_action({"command": "kick", "user": "x"})[:-8], bound=HANDSHAKE + 1),
    Case("admin-close-fin", "admin", "close", http_connect, chunk=PIPELINED_ADMIN, close="fin", flood_seconds=1),
    Case("admin-close-rst", "admin", "close", http_connect, chunk=PIPELINED_ADMIN, close="rst", flood_seconds=1),
    # The control socket: many requests, one endless line; half a line.
    Case("control-flood-requests", "control", "flood", control_connect, chunk=CONTROL_STATUS * 2000,
         bound=CONTROL_IDLE + 1, since="last"),
    Case("control-flood-huge-line", "control", "flood", control_connect, chunk=b"x" * 65536,
         bound=CONTROL_IDLE + 1, since="last"),
    Case("control-stall-half-line", "control", "stall", control_connect, partial=b'{"v":1,"comm',
         bound=CONTROL_IDLE + 1),
    Case("control-close-fin", "control", "close", control_connect, chunk=CONTROL_STATUS * 2000, close="fin",
         flood_seconds=2),
    Case("control-close-rst", "control", "close", control_connect, chunk=CONTROL_STATUS * 2000, close="rst",
         flood_seconds=2),
    # The metrics listener: pipelined GET /metrics; half a head.
    Case("metrics-flood", "metrics", "flood", metrics_connect, chunk=PIPELINED_METRICS, bound=HANDSHAKE + 1,
         since="last"),
    Case("metrics-stall-half-head", "metrics", "stall", metrics_connect, partial=b"GET /metrics HTTP/1.1\r\nHo",
         bound=HANDSHAKE + 1),
    Case("metrics-close-fin", "metrics", "close", metrics_connect, chunk=PIPELINED_METRICS, close="fin", flood_seconds=1),
    Case("metrics-close-rst", "metrics", "close", metrics_connect, chunk=PIPELINED_METRICS, close="rst", flood_seconds=1),
]


def wait_rss_back(pid, limit, seconds=3.0):
    deadline = time.monotonic() + seconds
    while True:
        rss = rss_bytes(pid)
        if rss <= limit or time.monotonic() > deadline:
            return rss
        time.sleep(0.05)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_client(case, chatd_factory, tmp_path):
    env = start_chatd(chatd_factory, tmp_path, case.overrides)
    if case.prepare:
        case.prepare(env)
    warm(env, case.path)
    witness = Witness(env.port)
    witness.start()
    assert witness.first.wait(10), "the witness got no round trip before the attack"
    base = rss_bytes(env.pid)
    monitor = RSSMonitor(env.pid)
    monitor.start()
    failures, m = [], {"case": case.id, "bin": str(BIN), "baseline_mib": round(base / MIB, 1)}

    sock = case.connect(env)
    offender = Offender(env.pid, sock, None if case.path == "control" else
                        (env.metrics_port if case.path == "metrics" else env.port)).watch()
    opened = offender.opened_at
    try:
        if case.kind == "flood":
            f = flood(offender, case.chunk, case.flood_seconds)
            m.update(sent_mib=round(f.sent / MIB, 2), flood_s=round(f.ended - f.started, 2), flood_end=f.reason)
            start = f.last_progress if case.since == "last" else opened
            cut = offender.wait_cut_off(start + case.bound + SLACK + 5)
            m["cut_off_s"] = round(cut - start, 2) if cut else None
            if cut is None or cut - start > case.bound + SLACK:
                failures.append(f"not cut off within {case.bound} s (+{SLACK}) of "
                                f"{'its last byte' if case.since == 'last' else 'connecting'} (cut off: {m['cut_off_s']})")
        elif case.kind == "stall":
            sock.sendall(case.partial)
            start = time.monotonic() if case.path == "control" else opened
            cut = offender.wait_cut_off(start + case.bound + SLACK + 5)
            m["cut_off_s"] = round(cut - start, 2) if cut else None
            if cut is None or cut - start > case.bound + SLACK:
                failures.append(f"stall not cut off within {case.bound} s (+{SLACK}) (cut off: {m['cut_off_s']})")
        else:
            if case.close_after:
                offender.sock.sendall(case.close_after)
                m.update(sent_mib=round(len(case.close_after) / MIB, 2))
                # Backed up: chatd has answers it cannot send (the attacker reads nothing).
                deadline = time.monotonic() + 5
                while offender.queued_by_chatd() < 64 * 1024 and time.monotonic() < deadline:
                    time.sleep(0.01)
            else:
                f = flood(offender, case.chunk, case.flood_seconds)
                m.update(sent_mib=round(f.sent / MIB, 2), flood_end=f.reason)
            queued = offender.queued_by_chatd()
            m["queued_kib_at_close"] = queued // 1024
            if offender.released_at is not None:
                failures.append("cut off before it could be closed while backed up")
            elif queued == 0:
                failures.append("chatd had nothing queued for it: not a backed-up close")
            if case.path == "ws":
                clients = env.healthz_clients()
                if clients != 3:
                    failures.append(f"healthz counted {clients} clients with the attacker, not 3")
            closed = offender.close(case.close)
            released = offender.wait_released(closed + GONE_WITHIN + 5)
            m["gone_s"] = round(released - closed, 2) if released else None
            if released is None or released - closed > GONE_WITHIN:
                failures.append(f"socket not released within {GONE_WITHIN} s of the {case.close} (gone: {m['gone_s']})")
            if case.path == "ws":
                deadline = closed + GONE_WITHIN
                while env.healthz_clients() != 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                gone = env.healthz_clients() == 2 and "attacker" not in env.connection_names()
                m["ws_gone_s"] = round(time.monotonic() - closed, 2)
                if not gone or time.monotonic() - closed > GONE_WITHIN + SLACK:
                    failures.append(f"still listed by healthz/chatctl connections {m['ws_gone_s']} s after the close")
        offender.wait_released(time.monotonic() + 5)
    except (OSError, AssertionError, TimeoutError, subprocess.TimeoutExpired) as e:
        # Reported with the measurements, not instead of them.
        failures.append(f"{type(e).__name__} during the attack: {e}")
    finally:
        offender.stop()
    after = wait_rss_back(env.pid, base + RETURN_MIB * MIB)
    peak = max(monitor.stop(), after)
    witness.stop()
    m.update(peak_growth_mib=round((peak - base) / MIB, 1), after_growth_mib=round((after - base) / MIB, 1),
             witness_max_rtt_ms=round(max(witness.rtts) * 1000) if witness.rtts else None,
             witness_median_rtt_ms=round(sorted(witness.rtts)[len(witness.rtts) // 2] * 1000) if witness.rtts else None,
             witness_round_trips=len(witness.rtts))
    if peak - base > RSS_BOUND:
        failures.append(f"RSS grew by {m['peak_growth_mib']} MiB (bound {RSS_BOUND // MIB})")
    if after - base > RETURN_MIB * MIB:
        failures.append(f"RSS {m['after_growth_mib']} MiB above the baseline after the offender left (bound {RETURN_MIB})")
    failures += witness.failures
    if not witness.rtts or max(witness.rtts) > WITNESS_RTT:
        failures.append(f"witness round trip up to {m['witness_max_rtt_ms']} ms (bound {int(WITNESS_RTT * 1000)})")
    if env.chatd.proc.poll() is not None:
        failures.append(f"chatd exited with {env.chatd.proc.returncode}")
    m["failures"] = failures
    if os.environ.get("HOSTILE_RESULTS"):
        with open(os.environ["HOSTILE_RESULTS"], "a") as out:
            out.write(json.dumps(m) + "\n")
    print(json.dumps(m))
    assert not failures, json.dumps(m, indent=1)
