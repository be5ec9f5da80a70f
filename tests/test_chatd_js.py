"""web/chatd.js, the browser client library, in headless Chromium against a real chatd (issue
18, item 1). The library is the file chatd serves (`import("/chatd.js")` on a page chatd
serves), behind the packaged nginx site where the test is about the network: restarts,
connections cut, sends in flight, resumes. Each case checks that nothing is lost and nothing
is delivered or stored twice."""
import json
import signal
import sqlite3
import time

import jwt
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from conftest import chat_config, free_port, start_nginx
from test_proxy import nginx, site_config, tls_browser  # noqa: F401 (fixtures)

# Every event the library fires, recorded per client in window.__log[ID] as {t, at, d}.
EVENTS = ["status", "welcome", "history", "message", "edited", "deleted", "reactions", "typing", "presence", "read",
          "unread", "joined", "left", "system", "error", "expiring", "refreshed"]

# Loads /chatd.js as the page would and gives the test a way to make clients:
# __make(ID, options) creates one whose events go to __log[ID]; __send records the outcome of
# each send() in the log ("sendResolved"/"sendRejected"). A WebSocket subclass records the
# frames each client sends (__frames[ID]) and can claim a full send buffer (__full[ID]):
# instrumentation around the browser's own socket, which still does all the sending.
HARNESS = """
const done = arguments[arguments.length - 1];
import("/chatd.js").then((mod) => {
  window.__mod = mod;
  window.__c = {}; window.__log = {}; window.__frames = {}; window.__full = {}; window.__bufferedReads = {};
  window.__tokenWanted = []; window.__tokenAsked = 0;
  // A token provider the test answers: getToken() waits until the test hands one over.
  window.__getToken = () => new Promise((resolve) => { window.__tokenAsked++; window.__tokenWanted.push(resolve); });
  window.__giveToken = (token) => window.__tokenWanted.shift()(token);
  window.__make = (id, options) => {
    const log = (window.__log[id] = []);
    const frames = (window.__frames[id] = []);
    window.__bufferedReads[id] = 0;
    class Recorded extends WebSocket {
      send(data) { frames.push(JSON.parse(data)); super.send(data); }
      get bufferedAmount() {
        window.__bufferedReads[id]++;
        return window.__full[id] ? 1 << 30 : super.bufferedAmount;
      }
    }
    const opts = { storageKey: "test-" + id + ":", WebSocket: Recorded, ...options };
    if (opts.getToken === "test") opts.getToken = window.__getToken;
    const client = new window.__mod.ChatClient(opts);
    for (const t of %s) client.on(t, (d) => log.push({ t, at: Date.now(), d: JSON.parse(JSON.stringify(d)) }));
    window.__c[id] = client;
    return true;
  };
  window.__send = (id, room, text, opts) => {
    const log = window.__log[id];
    window.__c[id].send(room, text, opts).then(
      (m) => log.push({ t: "sendResolved", at: Date.now(), d: { text, message: m } }),
      (e) => log.push({ t: "sendRejected", at: Date.now(), d: { text, code: e.code } }),
    );
  };
  done(true);
}, (e) => done(String(e)));
""" % json.dumps(EVENTS)


def wait(driver, timeout=20):
    return WebDriverWait(driver, timeout, poll_frequency=0.05)


def load(driver, url):
    """Opens a page chatd serves and loads the library into it."""
    driver.get(url)
    assert driver.execute_async_script(HARNESS) is True


def make(driver, id_, **options):
    """A ChatClient in the page; autoConnect is left to the library (it connects at once)."""
    driver.execute_script("window.__make(arguments[0], arguments[1])", id_, options)


def log(driver, id_, kind=None):
    entries = driver.execute_script("return window.__log[arguments[0]]", id_)
    return [e for e in entries if kind is None or e["t"] == kind]


def state(driver, id_):
    return driver.execute_script("return window.__c[arguments[0]].state", id_)


def send(driver, id_, room, text, **opts):
    driver.execute_script("window.__send(arguments[0], arguments[1], arguments[2], arguments[3])", id_, room, text, opts)


def call(driver, id_, method, *args):
    """Calls a promise-returning method; returns its value or {"error": code}."""
    return driver.execute_async_script("""
const [id, method, args, done] = [arguments[0], arguments[1], arguments[2], arguments[arguments.length - 1]];
window.__c[id][method](...args).then((v) => done(v === undefined ? null : v), (e) => done({ error: e.code }));
""", id_, method, list(args))


def resolved(driver, id_):
    return {e["d"]["text"]: e["d"]["message"] for e in log(driver, id_, "sendResolved")}


def shown(driver, id_, room="lobby"):
    """The room's messages as a page following the events would show them: a fresh window
    replaces the list, a resume and live messages add to it. (seq, from, text) each."""
    out = []
    for e in log(driver, id_):
        if e["t"] == "history" and e["d"]["room"] == room:
            if not (e["d"]["resumed"] and e["d"].get("recovered")):
                out = []
            out += [(m["seq"], m["from"], m["text"]) for m in e["d"]["messages"]]
        elif e["t"] == "message" and e["d"]["message"]["room"] == room:
            m = e["d"]["message"]
            out.append((m["seq"], m["from"], m["text"]))
    return out


def texts(driver, id_, room="lobby"):
    return [text for _, _, text in shown(driver, id_, room)]


def assert_once_in_order(messages, expected):
    """Every expected text exactly once, seqs strictly rising with no gap (no edits here)."""
    seqs = [seq for seq, _, _ in messages]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), messages
    got = [text for _, _, text in messages]
    for text in expected:
        assert got.count(text) == 1, (text, got)


def sent_frames(driver, id_, type_="message"):
    return [f for f in driver.execute_script("return window.__frames[arguments[0]]", id_) if f["type"] == type_]


def stored(server, room="lobby"):
    """The room's messages as chatd stored them in its SQLite history: (text, nonce) each
    (the log's edits, deletions and reaction changes left out)."""
    with sqlite3.connect(server.dir / "history.sqlite") as db:
        return db.execute("select text, nonce from message where room = ? and edit_of is null and reaction is null"
                          " and deletion is null order by seq", (room,)).fetchall()


class Site:
    """chatd behind the packaged nginx site (TLS), nginx restartable on the same port."""

    def __init__(self, chatd_factory, tmp_path, extra=""):
        self.tmp = tmp_path
        self.chatd_port, self.tls_port = free_port(), free_port()
        config = chat_config(self.chatd_port, extra=extra).replace(
            "allowed_origins = [", f'allowed_origins = ["https://localhost:{self.tls_port}", ')
        self.chatd = chatd_factory(config).start()
        import subprocess
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost", "-keyout", str(tmp_path / "key.pem"),
                        "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
        self.site = site_config(tmp_path, self.tls_port, free_port(), self.chatd_port)
        self.proc = None
        self.start_nginx()

    @property
    def url(self):
        return f"https://localhost:{self.tls_port}/"

    @property
    def direct_url(self):
        return f"http://localhost:{self.chatd_port}/"

    def start_nginx(self):
        self.proc = start_nginx(self.tmp, self.site, self.tls_port)

    def stop_nginx(self):
        # SIGTERM is nginx's fast shutdown: it closes every connection at once, as a crash
        # or a network cut would (the browser sees 1006, no close frame).
        self.proc.terminate()
        self.proc.wait(10)
        self.proc = None

    def cleanup(self):
        if self.proc:
            self.stop_nginx()


@pytest.fixture
def site(chatd_factory, tmp_path):
    made = []

    def make_site(extra=""):
        s = Site(chatd_factory, tmp_path, extra)
        made.append(s)
        return s

    yield make_site
    for s in made:
        s.cleanup()


def test_restart_mid_conversation_queues_resumes_and_delivers_once(site, tls_browser):
    s = site()
    alice, bob = tls_browser(), tls_browser()
    for driver, name in ((alice, "alice"), (bob, "bob")):
        load(driver, s.url)
        make(driver, name, token="dev-token", name=name, rooms=["lobby", "side"])
    for driver, name in ((alice, "alice"), (bob, "bob")):
        wait(driver).until(lambda d, n=name: state(d, n) == "open" and len(log(d, n, "history")) == 2)

    before = ["a1", "b1", "a2", "b2", "a3"]
    for text in before:
        driver, name = (alice, "alice") if text[0] == "a" else (bob, "bob")
        send(driver, name, "lobby", text)
        wait(driver).until(lambda d, n=name, t=text: t in resolved(d, n))
    send(alice, "alice", "side", "side before")
    wait(bob).until(lambda d: texts(d, "bob") == before and texts(d, "bob", "side") == ["side before"])

    assert s.chatd.stop() == 0
    for driver, name in ((alice, "alice"), (bob, "bob")):
        wait(driver).until(lambda d, n=name: state(d, n) == "waiting")
    # Sent while chatd is down: queued, in order.
    during = ["a4 offline", "a5 offline", "b3 offline"]
    send(alice, "alice", "lobby", "a4 offline")
    send(alice, "alice", "lobby", "a5 offline")
    send(bob, "bob", "lobby", "b3 offline")
    send(bob, "bob", "side", "side offline")
    assert "a4 offline" not in resolved(alice, "alice")
    s.chatd.start()

    everything = before + during
    for driver, name in ((alice, "alice"), (bob, "bob")):
        wait(driver, 40).until(lambda d, n=name: all(t in texts(d, n) for t in everything))
    wait(alice).until(lambda d: {"a4 offline", "a5 offline"} <= set(resolved(d, "alice")))
    wait(bob).until(lambda d: {"b3 offline", "side offline"} <= set(resolved(d, "bob")))
    wait(alice).until(lambda d: texts(d, "alice", "side") == ["side before", "side offline"])
    # The sends resolved with the stored message: its seq is the one delivered.
    a4 = resolved(alice, "alice")["a4 offline"]
    assert (a4["seq"], "alice", "a4 offline") in shown(bob, "bob")

    # Both show the same list, gap-free, each message once, and the queue kept its order.
    assert shown(alice, "alice") == shown(bob, "bob")
    assert_once_in_order(shown(alice, "alice"), everything)
    assert texts(alice, "alice").index("a4 offline") < texts(alice, "alice").index("a5 offline")
    # Each resumed with `since` (upgrade room and joined room alike): chatd recovered the gap.
    for driver, name in ((alice, "alice"), (bob, "bob")):
        resumes = [e["d"] for e in log(driver, name, "history") if e["d"]["resumed"]]
        assert sorted(r["room"] for r in resumes) == ["lobby", "side"]
        assert all(r["recovered"] is True for r in resumes)
        assert len(log(driver, name, "welcome")) == 2
    assert [text for text, _ in stored(s.chatd)] == texts(alice, "alice")
