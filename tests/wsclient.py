"""A small blocking WebSocket client for the process tests (the `websockets` package)."""
import json

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


class Chat:
    def __init__(self, port, name="tester", room="lobby", token="dev-token", origin=None):
        self._connection = connect(f"ws://127.0.0.1:{port}/chat?token={token}&name={name}&room={room}",
                                   origin=origin or f"http://localhost:{port}", open_timeout=10)
        self.ws = self._connection.__enter__()
        self.until("presence")

    def send(self, text):
        self.ws.send(json.dumps({"type": "message", "text": text}))

    def until(self, type_, timeout=10):
        while True:
            event = json.loads(self.ws.recv(timeout=timeout))
            if event.get("type") == type_:
                return event

    def message(self, timeout=10):
        return self.until("message", timeout)["message"]["text"]

    def close_code(self, timeout=10):
        """Reads until the server closes; returns its close code."""
        try:
            while True:
                self.ws.recv(timeout=timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    def close(self):
        self._connection.__exit__(None, None, None)


def open_ws(port, query):
    """A WebSocket client of chatd on 127.0.0.1:`port`, from the allowed origin."""
    return connect(f"ws://127.0.0.1:{port}/chat?{query}", origin=f"http://localhost:{port}", open_timeout=10)


def until(ws, type_):
    """The next event of `type_` (others are passed over), within 10 s."""
    while True:
        event = json.loads(ws.recv(timeout=10))
        if event["type"] == type_:
            return event
