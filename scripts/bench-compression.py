#!/usr/bin/env python3
"""Bytes on the wire per chat message, with and without permessage-deflate (issue 15).

Against a running chatd: two members of one room read every message, one offering
permessage-deflate as Chromium does and one offering nothing; a third sends typical chat
lines. Prints, for each member, the bytes the socket delivered per message (frame heads
included; TCP/IP headers excluded), and how many messages came compressed.

    scripts/bench-compression.py --port 8080 [--messages 2000]
"""
import argparse
import base64
import json
import os
import socket
import zlib

LINES = [
    "hi everyone", "good morning!", "anyone around?", "lunch at 12?", "sounds good to me",
    "I'll push the fix after the meeting", "can you review my PR when you have a minute",
    "the deploy is done, please check the dashboard", "大家好", "今天下午三点开会",
    "好的，收到", "我这边已经测试通过了，可以合并", "lol", "👍", "brb",
    "The build failed again on the integration tests, looking into it now",
    "thanks!", "see you tomorrow", "who broke main?", "it works on my machine",
]


class Member:
    def __init__(self, port, name, room, deflate):
        self.sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
        self.sock.sendall((f"GET /chat?token=dev-token&name={name}&room={room} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nOrigin: http://localhost:{port}\r\n{extra}\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.deflate = b"permessage-deflate" in head
        assert head.startswith(b"HTTP/1.1 101"), head
        assert self.deflate == deflate, head
        self.wire = 0
        self.compressed = 0

    def frame(self):
        while True:
            if len(self.buffer) >= 2:
                first, short = self.buffer[0], self.buffer[1] & 0x7F
                head = 2 + (2 if short == 126 else 8 if short == 127 else 0)
                if len(self.buffer) >= head:
                    length = short if head == 2 else int.from_bytes(self.buffer[2:head], "big")
                    if len(self.buffer) >= head + length:
                        payload, self.buffer = self.buffer[head:head + length], self.buffer[head + length:]
                        self.wire += head + length
                        if first & 0x40:
                            self.compressed += 1
                            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
                        return json.loads(payload)
            self.buffer += self.sock.recv(65536)

    def send(self, text):
        payload = json.dumps({"type": "message", "text": text}).encode()
        mask = os.urandom(4)
        head = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big"))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    room = f"wire-{os.getpid()}"
    members = {"deflate": Member(args.port, "z", room, True), "plain": Member(args.port, "p", room, False)}
    sender = Member(args.port, "s", room, False)
    for member in members.values():
        while member.frame().get("type") != "history":
            pass
    report = {}
    for name, member in members.items():
        member.wire, member.compressed = 0, 0
    for n in range(args.messages):
        sender.send(LINES[n % len(LINES)])
        for member in members.values():
            while member.frame().get("type") != "message":
                pass
        while sender.frame().get("type") != "message":
            pass
    for name, member in members.items():
        report[name] = {"bytes_per_message": round(member.wire / args.messages, 1), "compressed": member.compressed}
    report["saving"] = round(1 - report["deflate"]["bytes_per_message"] / report["plain"]["bytes_per_message"], 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
