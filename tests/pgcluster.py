"""A real PostgreSQL server in a temporary directory (Debian's `postgresql` package, run as
the `postgres` user when the tests run as root), chatd nodes on it, and nginx in front."""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import free_port, start_nginx

ORIGIN = "http://chat.test"


def pg_bin(name):
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    assert versions, "PostgreSQL is not installed (apt-get install postgresql)"
    return str(versions[-1] / name)


class Postgres:
    """initdb, pg_ctl start/stop/restart, psql; loopback only, trust authentication."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="chatd-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_postgres = []
        if os.geteuid() == 0:
            # initdb refuses root: run the server as Debian's postgres user.
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run(pg_bin("initdb"), "-D", str(self.data), "--auth=trust", "--username=postgres", "-E", "UTF8")

    def _run(self, *args, check=True):
        return subprocess.run([*self.as_postgres, *args], capture_output=True, text=True, check=check, timeout=120)

    def start(self):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
        r = self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start",
                      check=False)
        assert r.returncode == 0, r.stdout + r.stderr + (self.dir / "log").read_text()
        return self

    def stop(self, mode="fast"):
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def psql(self, sql, database="postgres"):
        r = self._run(pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                      "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [line for line in r.stdout.splitlines() if line]

    def new_database(self, name):
        self.psql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def cleanup(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def node_config(port, url, node, extra="", moderator_tokens=()):
    return f"""
[server]
listen = ["127.0.0.1:{port}"]
[auth]
tokens = ["dev-token"]
moderator_tokens = {json.dumps(list(moderator_tokens))}
allowed_origins = ["{ORIGIN}"]
[limits]
rate_messages = 100000
user_rate_messages = 100000
ip_rate_messages = 100000
max_connections_per_ip = 10000
upgrades_per_minute_per_ip = 100000
[cluster]
database_url = "{url}"
node_id = "{node}"
heartbeat_seconds = 0.5
node_timeout_seconds = 3
{extra}
"""


def start_nodes(chatd_factory, url, count, extra="", moderator_tokens=()):
    nodes = []
    for i in range(count):
        port, metrics = free_port(), free_port()
        control = Path(tempfile.mkdtemp(prefix="chatd-ctl-")) / "control.sock"
        c = chatd_factory(node_config(port, url, f"n{i + 1}", extra + f'\n[control]\nsocket = "{control}"\n'
                                                                      f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n',
                                      moderator_tokens))
        c.port, c.control, c.metrics = port, control, metrics
        nodes.append(c.start())
    return nodes


def history(pg, database, room="lobby"):
    """(seq, text) of every message of `room` in the shared table."""
    rows = pg.psql(f"SELECT seq, text FROM chatd_message WHERE room = '{room}' AND edit_of IS NULL ORDER BY seq", database)
    return [(int(seq), text) for seq, text in (row.split("|", 1) for row in rows)]


class Member:
    """A chat client that records every message it is shown, in order, and answers a dropped
    connection as the page does: it reconnects (to `reconnect_port`) with `since`."""

    def __init__(self, port, name, room="lobby", reconnect_port=None):
        self.port, self.name, self.room = port, name, room
        self.reconnect_port = reconnect_port
        self.seqs, self.texts, self.errors, self.presence = [], {}, [], []
        self.recovered, self.deleted = [], []
        self.data = {}
        self.reconnects = 0
        self.changed = threading.Condition()
        self.closing = False
        self.ws = self._open(port, None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _open(self, port, since):
        url = f"ws://127.0.0.1:{port}/chat?token=dev-token&name={self.name}&room={self.room}"
        if since is not None:
            url += f"&since={since}"
        return connect(url, origin=ORIGIN, open_timeout=10)

    def _read(self):
        while True:
            try:
                for raw in self.ws:
                    self._event(json.loads(raw))
            except ConnectionClosed:
                pass
            if self.closing or self.reconnect_port is None:
                break
            self.ws = self._reopen()
            if self.ws is None:
                break
        with self.changed:
            self.changed.notify_all()

    def _reopen(self):
        delay = 0.05
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.closing:
            try:
                ws = self._open(self.reconnect_port, self.seqs[-1] if self.seqs else 0)
                self.reconnects += 1
                return ws
            except (OSError, Exception):  # refused, or nginx's 502 while a node is down
                time.sleep(delay)  # the page's backoff, not a synchronisation
                delay = min(delay * 2, 1.0)
        return None

    def _event(self, event):
        with self.changed:
            kind = event.get("type")
            if kind == "history":
                if "recovered" in event:
                    self.recovered.append(event["recovered"])
                for m in event["messages"]:
                    self.seqs.append(m["seq"])
                    self.texts[m["seq"]] = m["text"]
            elif kind == "message":
                m = event["message"]
                self.seqs.append(m["seq"])
                self.texts[m["seq"]] = m["text"]
                if "data" in m:
                    self.data[m["seq"]] = m["data"]
            elif kind == "error":
                self.errors.append(event["code"])
            elif kind == "presence":
                self.presence.append(event)
            elif kind == "deleted":
                self.deleted.append(event["seq"])
            self.changed.notify_all()

    def send(self, text):
        self.ws.send(json.dumps({"type": "message", "text": text}))

    def wait(self, predicate, timeout=30, what="condition"):
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), timeout), f"{self.name}: {what} not reached"

    def close(self):
        self.closing = True
        try:
            self.ws.close()
        except Exception:
            pass


def nginx_upstream(tmp, ports):
    """nginx on a free port, balancing over `ports`; a node that refuses is skipped."""
    port = free_port()
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in ports)
    site = f"""
map $http_upgrade $connection_upgrade {{
    default upgrade;
    ''      close;
}}
upstream chatd {{
{servers}
}}
server {{
    listen 127.0.0.1:{port};
    location / {{
        proxy_pass http://chatd;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
        proxy_read_timeout 1h;
        proxy_next_upstream error timeout http_502;
        proxy_connect_timeout 2s;
    }}
}}
"""
    return start_nginx(tmp, site, port), port


class CuttableLink:
    """A TCP forwarder to PostgreSQL whose open connections can be cut silently, as a
    network cut does: what is sent is swallowed, and no FIN or RST ever arrives. New
    connections after the cut go through."""

    def __init__(self, target_port):
        import socket
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.links = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            link = {"cut": False}
            self.links.append(link)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, link), daemon=True).start()

    @staticmethod
    def _pump(a, b, link):
        try:
            while data := a.recv(65536):
                if not link["cut"]:
                    b.sendall(data)
        except OSError:
            pass
        if not link["cut"]:
            try:
                b.shutdown(2)
            except OSError:
                pass

    def cut(self):
        for link in self.links:
            link["cut"] = True

    def close(self):
        self.listener.close()
