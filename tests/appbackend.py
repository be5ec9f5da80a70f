"""A small application backend for the tests: a real HTTP server on loopback that chatd's
connect proxy, publish proxy and webhooks talk to. Each path answers through a handler the
test sets (status, JSON body, an optional delay), and every request is recorded. It can be
made slow, made to answer 500, or stopped and started again on the same port."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AppBackend:
    def __init__(self, port=0):
        self.handlers = {}
        self.requests = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.port = port
        self.server = None
        self.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path, handler):
        """`handler(body, headers)` returns (status, json_or_None[, delay_seconds])."""
        self.handlers[path] = handler

    def start(self):
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                record = {"path": self.path, "headers": dict(self.headers.items()), "body": body, "raw": raw,
                          "at": time.monotonic()}
                # Recorded as it arrives, before it is answered: the order of arrival is what
                # the tests compare (a handler thread that records after answering can lose a
                # race to the next request's thread).
                with backend.arrived:
                    backend.requests.append(record)
                    backend.arrived.notify_all()
                handler = backend.handlers.get(self.path)
                answer = handler(body, self.headers) if handler else (404, {"reason": "no handler"})
                status, payload = answer[0], answer[1]
                delay = answer[2] if len(answer) > 2 else 0
                if delay:
                    time.sleep(delay)
                data = b"" if payload is None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # chatd gave up waiting and closed

        class Server(ThreadingHTTPServer):
            """Remembers its connections, so that stopping closes the kept-alive ones too."""
            open_sockets = set()

            def get_request(self):
                sock, address = super().get_request()
                self.open_sockets.add(sock)
                return sock, address

            def shutdown_request(self, request):
                self.open_sockets.discard(request)
                super().shutdown_request(request)

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.open_sockets = set()
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Down: the port refuses connections until `start()`."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            for sock in list(self.server.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.server = None

    def seen(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def wait_for(self, path, count, timeout=20):
        """Waits until `count` requests to `path` have arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = [r for r in self.requests if r["path"] == path]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} requests to {path} arrived")
                self.arrived.wait(left)
