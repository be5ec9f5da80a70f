"""Slow consumers against a real chatd: a member whose socket stops taking data is closed
(disconnect rooms) or loses its oldest events and is told how many (drop_oldest rooms),
while the other members get every message."""
import json
import socket
import struct
import threading
import urllib.request

from websockets.sync.client import connect

from conftest import free_port

MESSAGES = 12000
TEXT = "x" * 480  # ~560 bytes a frame: ~6.7 MB in all, more than loopback's socket buffers


def config(port):
    return f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}"]
[limits]
rate_messages = 100000
user_rate_messages = 100000
ip_rate_messages = 100000
send_buffer_bytes = 16384
send_queue_frames = 64
[rooms.rules."dash-*"]
slow_consumer = "drop_oldest"
[control]
socket = ""
[metrics]
listen = "127.0.0.1:{port + 1 if port < 65535 else port - 1}"
"""


class StalledReader:
    """Upgrades with a tiny receive buffer, then reads nothing until told to."""

    def __init__(self, port, room):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall((f"GET /chat?token=dev-token&name=slow&room={room} HTTP/1.1\r\nHost: x\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           f"Sec-WebSocket-Version: 13\r\nOrigin: http://localhost:{port}\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(1)
        assert self.buffer.startswith(b"HTTP/1.1 101")
        self.buffer = b""
        # The 101 comes before the join has entered the room (a new room is read from the
        # store first): wait for the welcome, so that members joining after this one are
        # announced to it. What was read stays in the buffer for the test.
        self.sock.settimeout(30)
        while not any(e["type"] == "history" for e in self.peek()):
            assert self.receive(), "closed before the welcome"

    def peek(self):
        """The whole text events in the buffer, leaving it as it is."""
        saved = self.buffer
        events, _ = self.parse()
        self.buffer = saved
        return events

    def parse(self):
        """Takes every whole frame out of the buffer: (text events, close code or None)."""
        events, close = [], None
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    break
                length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                if len(self.buffer) < 10:
                    break
                length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < offset + length:
                break
            payload = self.buffer[offset:offset + length]
            self.buffer = self.buffer[offset + length:]
            if opcode == 1:
                events.append(json.loads(payload))
            elif opcode == 8:
                close = struct.unpack("!H", payload[:2])[0]
                break
        return events, close

    def receive(self):
        """Reads once from the socket; False when the server has closed it."""
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return False
        self.buffer += chunk
        return bool(chunk)

    def frames(self):
        """Reads everything until the server closes: (text events, close code or None)."""
        self.sock.settimeout(30)
        events = []
        while True:
            batch, close = self.parse()
            events += batch
            if close is not None or not self.receive():
                return events, close


def flood(port, room):
    """A sender and a fast reader in `room`; returns the texts the fast reader received."""
    origin = f"http://localhost:{port}"
    received = []
    reader = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name=fast&room={room}", origin=origin,
                     open_timeout=10, max_queue=None)
    sender = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name=sender&room={room}", origin=origin,
                     open_timeout=10, max_queue=None)

    echoes = [0]
    progress = threading.Condition()

    def read():
        while len(received) < MESSAGES:
            event = json.loads(reader.recv(timeout=60))
            if event["type"] == "message":
                with progress:
                    received.append(event["message"]["text"])
                    progress.notify_all()

    def drain_own_echoes():
        # The sender is a member too: it must keep reading, or it is a slow consumer itself.
        while echoes[0] < MESSAGES:
            if json.loads(sender.recv(timeout=60))["type"] == "message":
                with progress:
                    echoes[0] += 1
                    progress.notify_all()

    threads = [threading.Thread(target=read), threading.Thread(target=drain_own_echoes)]
    for thread in threads:
        thread.start()
    for n in range(MESSAGES):
        sender.send(json.dumps({"type": "message", "text": f"{n} {TEXT}"}))
        if n % 100 == 99:
            # The readers here share one interpreter with the sender; keep them within a
            # hundred messages so that only the stalled member falls behind.
            with progress:
                progress.wait_for(lambda: min(len(received), echoes[0]) >= n - 100, timeout=60)
    for thread in threads:
        thread.join(120)
    sender.close()
    reader.close()
    return received


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_a_stalled_member_of_a_chat_room_is_closed_and_nobody_waits(chatd_factory):
    port = free_port()
    chatd_factory(config(port)).start()
    slow = StalledReader(port, "chat")
    received = flood(port, "chat")
    assert [int(t.split()[0]) for t in received] == list(range(MESSAGES))
    events, close = slow.frames()
    # Documented: 1013, reconnect and resume with since. The close frame waits behind what
    # the member did not read, and chatd ends the connection 2 s after deciding to close it
    # (a client that reads nothing must not hold it open), so a member that reads only after
    # the flood, as this one does, may see the connection end without the frame.
    assert close in (1013, None)
    seqs = [e["message"]["seq"] for e in events if e["type"] == "message"]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < MESSAGES  # a prefix, then the close
    assert metric(port + 1, "chatd_slow_consumer_disconnects_total") >= 1


def test_a_stalled_dashboard_member_keeps_the_newest_and_is_told_what_it_missed(chatd_factory):
    port = free_port()
    chatd_factory(config(port)).start()
    slow = StalledReader(port, "dash-1")
    received = flood(port, "dash-1")
    assert len(received) == MESSAGES
    # The sender is gone; closing from our side ends the stream once everything is read.
    slow.sock.settimeout(30)
    events, _ = read_until_last(slow, f"{MESSAGES - 1} ")
    got = [e for e in events if e["type"] == "message"]
    missed = sum(e["count"] for e in events if e["type"] == "missed")
    assert missed > 0
    # Nothing is lost silently: what arrived plus what was reported missed is everything.
    presence = sum(1 for e in events if e["type"] == "presence")
    # Broadcasts after the stalled member joined: the messages, the two joins and two leaves.
    assert len(got) + missed + presence == MESSAGES + 5
    assert got[-1]["message"]["text"].startswith(f"{MESSAGES - 1} ")  # the newest survived
    seqs = [m["message"]["seq"] for m in got]
    assert seqs == sorted(seqs)


def read_until_last(slow, prefix):
    """Reads a dashboard member's stream until the last message and both leaves. The two
    leave on different event loops, so "fast left" may come before "sender left"."""
    events = []
    slow.sock.settimeout(30)
    while True:
        slow.receive()
        batch, close = slow.parse()
        events += batch
        left = {e["message"] for e in events if e["type"] == "presence"}
        if close is not None or (any(e["type"] == "message" and e["message"]["text"].startswith(prefix) for e in events)
                                 and {"fast left", "sender left"} <= left):
            return events, close
