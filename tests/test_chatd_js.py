"""web/chatd.js, the browser client library, in headless Chromium against a real chatd (issue
18, item 1). The library is the file chatd serves (`import("/chatd.js")` on a page chatd
serves), behind the packaged nginx site where the test is about the network: restarts,
connections cut, sends in flight, resumes. Each case checks that nothing is lost and nothing
is delivered or stored twice."""
import json
import re
import signal
import subprocess
import sqlite3
import time

import jwt
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from conftest import BIN, ROOT, chat_config, free_port, start_nginx
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
        # No metrics listener: its default port is one fixed address for every chatd.
        config = chat_config(self.chatd_port, extra='[metrics]\nlisten = ""\n' + extra).replace(
            "allowed_origins = [", f'allowed_origins = ["https://localhost:{self.tls_port}", ')
        self.chatd = chatd_factory(config).start()
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


@pytest.mark.parametrize("then", ["reconnect", "reload"])
def test_a_cut_with_sends_in_flight_resends_the_same_nonces_and_stores_once(site, tls_browser, then):
    s = site()
    driver = tls_browser()
    load(driver, s.url)
    make(driver, "ann", token="dev-token", name="ann")
    wait(driver).until(lambda d: state(d, "ann") == "open" and log(d, "ann", "history"))
    send(driver, "ann", "lobby", "before the cut")
    wait(driver).until(lambda d: "before the cut" in resolved(d, "ann"))

    # chatd stops answering (SIGSTOP): the next sends leave the browser, through nginx, and
    # are never acknowledged. Then the connection is cut (nginx goes away) with them in flight.
    in_flight = ["in flight 1", "in flight 2", "in flight 3"]
    s.chatd.proc.send_signal(signal.SIGSTOP)
    try:
        for text in in_flight:
            send(driver, "ann", "lobby", text)
        wait(driver).until(lambda d: len(sent_frames(d, "ann")) == 4)
        first = {f["text"]: f["nonce"] for f in sent_frames(driver, "ann")[1:]}
        s.stop_nginx()
        wait(driver).until(lambda d: state(d, "ann") == "waiting")
        assert not set(in_flight) & set(resolved(driver, "ann"))
        if then == "reload":
            # The page goes away with its messages unacknowledged; its tab keeps sessionStorage.
            driver.get("about:blank")
    finally:
        s.chatd.proc.send_signal(signal.SIGCONT)
    s.start_nginx()

    if then == "reconnect":
        wait(driver, 40).until(lambda d: set(in_flight) <= set(resolved(d, "ann")))
        frames = sent_frames(driver, "ann")
    else:
        load(driver, s.url)
        make(driver, "ann", token="dev-token", name="ann")
        wait(driver, 40).until(lambda d: state(d, "ann") == "open" and
                               sum(t in texts(d, "ann") for t in in_flight) == len(in_flight))
        # The new page's client found the queue in storage; it empties once chatd has them.
        wait(driver).until(lambda d: d.execute_script("return window.__c.ann.queued.length") == 0)
        frames = sent_frames(driver, "ann")
    # Sent again after the cut, each with its first nonce (the reloaded page's client sent
    # them only after it).
    for text in in_flight:
        nonces = [f["nonce"] for f in frames if f.get("text") == text]
        assert nonces == [first[text]] * (2 if then == "reconnect" else 1), (text, frames)
    # ...and stored once, under that nonce, in the order sent.
    rows = stored(s.chatd)
    assert [text for text, _ in rows] == ["before the cut", *in_flight]
    assert [nonce for text, nonce in rows[1:]] == [first[t] for t in in_flight]
    # What the page shows: each once.
    assert_once_in_order(shown(driver, "ann"), ["before the cut", *in_flight])


SECRET = "s" * 40


def hs256(seconds, sub="u-1", name="jay"):
    return jwt.encode({"sub": sub, "name": name, "exp": int(time.time() + seconds)}, SECRET, algorithm="HS256")


def answer_token(driver, token):
    """Hands `token` to every getToken() call waiting; returns how many there were."""
    return driver.execute_script(
        "let n = 0; while (window.__tokenWanted.length) { window.__giveToken(arguments[0]); n++; } return n;", token)


def test_tokens_are_refreshed_in_band_and_again_after_a_refused_reconnect(site, tls_browser, tmp_path):
    (tmp_path / "jwt.key").write_text(SECRET)
    s = site(extra=f"""
[auth.jwt]
algorithm = "HS256"
key_file = "{tmp_path}/jwt.key"
leeway_seconds = 0
refresh_ahead_seconds = 2
""")
    driver = tls_browser()
    load(driver, s.url)
    make(driver, "jay", getToken="test")
    make(driver, "witness", token="dev-token", name="witness")
    first_exp = None
    while first_exp is None:
        wait(driver).until(lambda d: d.execute_script("return window.__tokenWanted.length") > 0)
        token = hs256(4)
        first_exp = jwt.decode(token, options={"verify_signature": False})["exp"]
        answer_token(driver, token)
    wait(driver).until(lambda d: state(d, "jay") == "open" and state(d, "witness") == "open")

    # Each `expiring` asks getToken for a fresh token, sent as a `refresh`: the session goes
    # on past the first token's end, on the same connection.
    def refreshed_past_first_expiry(d):
        answer_token(d, hs256(4))
        return time.time() > first_exp + 1 and len(log(d, "jay", "refreshed")) >= 2
    wait(driver, 30).until(refreshed_past_first_expiry)
    send(driver, "jay", "lobby", "after the first token")
    wait(driver).until(lambda d: answer_token(d, hs256(4)) >= 0 and "after the first token" in resolved(d, "jay"))
    wait(driver).until(lambda d: "after the first token" in texts(d, "witness"))
    assert len(log(driver, "jay", "welcome")) == 1
    assert [e["d"]["state"] for e in log(driver, "jay", "status")] == ["connecting", "open"]
    assert [e["d"]["in"] for e in log(driver, "jay", "expiring")] and \
        all(0 <= e["d"]["in"] <= 2 for e in log(driver, "jay", "expiring"))

    # No more fresh tokens: the session ends (1008, credential expired); with getToken the
    # library connects again, asking for a token each time. An expired one is refused at the
    # upgrade (401; the browser only sees the socket fail), and the next attempt asks again.
    def expired_then_refused(d):
        answer_token(d, hs256(-10))
        closes = [e["d"] for e in log(d, "jay", "status") if e["d"]["state"] == "waiting"]
        return len(closes) >= 2
    wait(driver, 30).until(expired_then_refused)
    closes = [e["d"] for e in log(driver, "jay", "status") if e["d"]["state"] == "waiting"]
    assert closes[0]["code"] == 1008 and closes[0]["reason"] == "credential expired"
    assert closes[1]["code"] == 1006  # the refused upgrade
    send(driver, "jay", "lobby", "queued while refused")
    asked = driver.execute_script("return window.__tokenAsked")
    wait(driver, 30).until(lambda d: answer_token(d, hs256(600)) >= 0 and state(d, "jay") == "open")
    assert driver.execute_script("return window.__tokenAsked") > asked
    wait(driver).until(lambda d: "queued while refused" in resolved(d, "jay"))
    wait(driver).until(lambda d: "queued while refused" in texts(d, "witness"))
    assert len(log(driver, "jay", "welcome")) == 2
    for id_ in ("jay", "witness"):
        assert texts(driver, id_).count("after the first token") == 1
        assert texts(driver, id_).count("queued while refused") == 1
    assert [text for text, _ in stored(s.chatd)] == ["after the first token", "queued while refused"]


def test_changes_typing_and_read_markers_arrive_live_and_on_resume(site, tls_browser, browser_factory):
    s = site()
    # bob is behind nginx, alice talks to chatd directly: nginx going away cuts bob only.
    alice, bob = browser_factory(), tls_browser()
    load(alice, s.direct_url)
    make(alice, "alice", token="dev-token", name="alice")
    load(bob, s.url)
    make(bob, "bob", token="dev-token", name="bob")
    for driver, name in ((alice, "alice"), (bob, "bob")):
        wait(driver).until(lambda d, n=name: state(d, n) == "open" and log(d, n, "unread"))
    assert log(bob, "bob", "unread")[0]["d"] == {"room": "lobby", "readSeq": 0, "unread": 0, "lastSeq": 0}

    for text in ("one", "two", "three"):
        send(alice, "alice", "lobby", text)
    wait(alice).until(lambda d: len(resolved(d, "alice")) == 3)
    seq = {text: m["seq"] for text, m in resolved(alice, "alice").items()}
    wait(bob).until(lambda d: texts(d, "bob") == ["one", "two", "three"])

    # Live: an edit, a reaction, a deletion, typing, and read markers, each an event once.
    assert call(alice, "alice", "edit", "lobby", seq["one"], "one, edited") is None
    assert call(bob, "bob", "react", "lobby", seq["two"], "👍") is None
    assert call(alice, "alice", "delete", "lobby", seq["three"]) is None
    assert call(bob, "bob", "edit", "lobby", seq["two"], "not mine") == {"error": "forbidden"}
    assert call(alice, "alice", "unreact", "lobby", 999, "👍") == {"error": "not_found"}
    driver_events = {}
    for driver, name in ((alice, "alice"), (bob, "bob")):
        wait(driver).until(lambda d, n=name: log(d, n, "edited") and log(d, n, "reactions") and log(d, n, "deleted"))
        driver_events[name] = {k: [e["d"] for e in log(driver, name, k)] for k in ("edited", "reactions", "deleted")}
        edited, = driver_events[name]["edited"]
        assert (edited["seq"], edited["text"], edited["by"]) == (seq["one"], "one, edited", "alice")
        reaction, = driver_events[name]["reactions"]
        assert (reaction["seq"], reaction["counts"], reaction["added"], reaction["by"]) == (seq["two"], {"👍": 1}, True, "bob")
        assert reaction["mine"] is (name == "bob")
        deleted, = driver_events[name]["deleted"]
        assert deleted["seq"] == seq["three"] and deleted["at"] > reaction["at"] > edited["at"]
    driver = bob
    driver.execute_script("window.__c.bob.typing('lobby'); window.__c.bob.typing('lobby')")
    wait(alice).until(lambda d: log(d, "alice", "typing"))
    assert [e["d"] for e in log(alice, "alice", "typing")] == [{"room": "lobby", "from": "bob"}]
    assert len(sent_frames(bob, "bob", "typing")) == 1  # the second was within 2 s: not sent
    bob.execute_script(f"for (const s of [1, {seq['one']}, {seq['two']}]) window.__c.bob.markRead('lobby', s)")
    wait(bob).until(lambda d: log(d, "bob", "read") and log(d, "bob", "read")[-1]["d"]["seq"] == seq["two"])
    assert len(sent_frames(bob, "bob", "read")) <= 2  # coalesced while one was on its way
    rooms = call(bob, "bob", "listRooms")
    assert rooms[0]["room"] == "lobby" and rooms[0]["readSeq"] == seq["two"] and rooms[0]["joined"] is True

    # bob is cut off; meanwhile alice edits, reacts, deletes and writes. bob's resume brings
    # the changes to messages it has as events, then the new message: each once.
    s.stop_nginx()
    wait(bob).until(lambda d: state(d, "bob") == "waiting")
    assert call(alice, "alice", "edit", "lobby", seq["two"], "two, edited") is None
    assert call(alice, "alice", "react", "lobby", seq["one"], "🎉") is None
    assert call(alice, "alice", "delete", "lobby", seq["one"]) is None
    send(alice, "alice", "lobby", "four")
    wait(alice).until(lambda d: "four" in resolved(d, "alice"))
    s.start_nginx()
    wait(bob, 40).until(lambda d: "four" in texts(d, "bob"))
    # From the cut on: the resume's changes to messages bob has, as events, before the
    # resume's history (only the new message); the reaction to a message deleted since is
    # gone with it. Nothing seen before the cut comes again.
    entries = log(bob, "bob")
    cut = max(i for i, e in enumerate(entries) if e["t"] == "status" and e["d"]["state"] == "waiting")
    after = [e for e in entries[cut:] if e["t"] in ("edited", "deleted", "reactions", "history", "message")]
    assert [e["t"] for e in after] == ["edited", "deleted", "history"], after
    assert (after[0]["d"]["seq"], after[0]["d"]["text"], after[0]["d"]["by"]) == (seq["two"], "two, edited", "alice")
    assert after[1]["d"]["seq"] == seq["one"]
    resume = after[2]["d"]
    assert resume["resumed"] is True and resume["recovered"] is True
    assert [m["text"] for m in resume["messages"]] == ["four"]
    assert texts(bob, "bob").count("four") == 1


def test_reconnects_back_off_with_full_jitter_up_to_the_cap(chatd_factory, browser_factory):
    port = free_port()
    server = chatd_factory(chat_config(port, extra='[metrics]\nlisten = ""\n')).start()
    driver = browser_factory()
    load(driver, f"http://localhost:{port}/")
    make(driver, "quick", token="dev-token", name="quick", backoff={"baseMs": 200, "capMs": 1500})
    make(driver, "default", token="dev-token", name="default")
    for id_ in ("quick", "default"):
        wait(driver).until(lambda d, i=id_: state(d, i) == "open")
    assert server.stop() == 0

    def attempts(id_):
        """(time, delayMs, attempt) of each wait after the stop, and the times of connects."""
        entries = log(driver, id_, "status")
        down = max(i for i, e in enumerate(entries) if e["d"]["state"] == "open") + 1
        waits = [(e["at"], e["d"]["delayMs"], e["d"]["attempt"]) for e in entries[down:] if e["d"]["state"] == "waiting"]
        connects = [e["at"] for e in entries[down:] if e["d"]["state"] == "connecting"]
        return waits, connects
    wait(driver, 30).until(lambda d: len(attempts("quick")[1]) >= 8)
    waits, connects = attempts("quick")
    delays = [delay for _, delay, _ in waits]
    # Each delay is drawn from [0, min(cap, base * 2^n)], and kept: the next attempt starts
    # that long after the failure (give or take the timer's slack).
    for (at, delay, attempt), next_connect in zip(waits, connects):
        assert 0 <= delay <= min(1500, 200 * 2 ** (attempt - 1)), waits
        assert delay - 5 <= next_connect - at <= delay + 500, (waits, connects)
    assert len(set(delays)) > 1, delays
    # The default options: base 500 ms, cap 10 s.
    default_waits, _ = attempts("default")
    assert default_waits and all(d <= min(10000, 500 * 2 ** (n - 1)) for _, d, n in default_waits), default_waits

    server.start()
    for id_ in ("quick", "default"):
        wait(driver, 30).until(lambda d, i=id_: state(d, i) == "open")


def test_sends_wait_while_the_socket_buffer_is_full(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(chat_config(port, extra='[metrics]\nlisten = ""\n')).start()
    driver = browser_factory()
    load(driver, f"http://localhost:{port}/")
    make(driver, "slow", token="dev-token", name="slow", maxBufferedAmount=1000)
    wait(driver).until(lambda d: state(d, "slow") == "open")
    send(driver, "slow", "lobby", "first")
    wait(driver).until(lambda d: "first" in resolved(d, "slow"))

    # The socket claims more than maxBufferedAmount unsent (as a stalled link would): the
    # library keeps the messages queued, looking again until it drains.
    driver.execute_script("window.__full.slow = true")
    reads = driver.execute_script("return window.__bufferedReads.slow")
    send(driver, "slow", "lobby", "held 1")
    send(driver, "slow", "lobby", "held 2")
    wait(driver).until(lambda d: d.execute_script("return window.__bufferedReads.slow") >= reads + 5)
    assert [f["text"] for f in sent_frames(driver, "slow")] == ["first"]
    assert set(resolved(driver, "slow")) == {"first"}
    assert driver.execute_script("return window.__c.slow.queued.map((q) => q.text)") == ["held 1", "held 2"]

    driver.execute_script("window.__full.slow = false")
    wait(driver).until(lambda d: {"held 1", "held 2"} <= set(resolved(d, "slow")))
    assert [f["text"] for f in sent_frames(driver, "slow")] == ["first", "held 1", "held 2"]
    assert_once_in_order(shown(driver, "slow"), ["first", "held 1", "held 2"])


def test_requests_answer_their_promises_and_the_declarations_match(chatd_factory, browser_factory):
    port = free_port()
    server = chatd_factory(chat_config(port, extra='[metrics]\nlisten = ""\n')).start()
    driver = browser_factory()
    load(driver, f"http://localhost:{port}/")
    make(driver, "kim", token="dev-token", name="kim")
    make(driver, "kim2", token="dev-token", name="kim")  # the same identity, as a second tab is
    wait(driver).until(lambda d: state(d, "kim") == "open" and state(d, "kim2") == "open")

    # Both send the same text at once: each send resolves with its own message (chatd's
    # `sent` names the nonce), not the first one from "kim" with that text.
    driver.execute_script("window.__send('kim', 'lobby', 'same'); window.__send('kim2', 'lobby', 'same')")
    wait(driver).until(lambda d: "same" in resolved(d, "kim") and "same" in resolved(d, "kim2"))
    mine = {id_: resolved(driver, id_)["same"]["seq"] for id_ in ("kim", "kim2")}
    assert mine["kim"] != mine["kim2"]
    nonces = {id_: sent_frames(driver, id_)[0]["nonce"] for id_ in ("kim", "kim2")}
    assert [nonce for _, nonce in stored(server)] == [nonces[min(mine, key=mine.get)], nonces[max(mine, key=mine.get)]]
    for i in range(5):
        send(driver, "kim", "lobby", f"m{i}")
    wait(driver).until(lambda d: len(resolved(d, "kim")) == 6)
    seqs = [resolved(driver, "kim")[f"m{i}"]["seq"] for i in range(5)]

    # Errors answer the request that caused them (chatd repeats its nonce).
    send(driver, "kim", "lobby", "x" * 501)
    send(driver, "kim", "lobby", " \u200b ")
    send(driver, "kim", "elsewhere", "not joined")
    wait(driver).until(lambda d: len(log(d, "kim", "sendRejected")) == 3)
    assert {e["d"]["text"][:3]: e["d"]["code"] for e in log(driver, "kim", "sendRejected")} == \
        {"xxx": "too_large", " \u200b ": "empty", "not": "not_joined"}
    assert call(driver, "kim", "versions", "lobby", seqs[0]) == {"error": "forbidden"}
    # (The page at / has its own connection, under its own guest name.)
    members = call(driver, "kim", "members", "lobby")
    assert {"name": "kim", "connections": 2} in members["members"] and members["elsewhere"] == 0
    assert members["online"] == sum(m["connections"] for m in members["members"])
    assert call(driver, "kim", "members", "nowhere") == {"error": "not_joined"}
    assert call(driver, "kim", "edit", "lobby", 10_000, "no such") == {"error": "not_found"}
    assert log(driver, "kim", "error") == []  # all of them were answered as the requests' own

    # A reply, a page of older messages, a room joined and left.
    send(driver, "kim", "lobby", "a reply", replyTo=seqs[1])
    wait(driver).until(lambda d: "a reply" in resolved(d, "kim"))
    assert resolved(driver, "kim")["a reply"]["replyTo"] == seqs[1]
    page = call(driver, "kim", "older", "lobby", seqs[3], 2)
    assert [m["text"] for m in page] == ["m1", "m2"] and [m["seq"] for m in page] == seqs[1:3]
    assert call(driver, "kim", "join", "extra") is None
    assert driver.execute_script("return window.__c.kim.rooms") == ["lobby", "extra"]
    send(driver, "kim", "extra", "in extra")
    wait(driver).until(lambda d: "in extra" in texts(d, "kim", "extra"))
    assert call(driver, "kim", "leave", "extra") is None
    assert driver.execute_script("return window.__c.kim.rooms") == ["lobby"]
    assert [e["d"] for e in log(driver, "kim", "left")] == [{"room": "extra", "reason": "request"}]
    assert driver.execute_script("return window.__c.kim.lastSeq('lobby')") == resolved(driver, "kim")["a reply"]["seq"]

    # close() is final: no reconnect, sends refused.
    driver.execute_script("window.__c.kim.close()")
    assert state(driver, "kim") == "closed"
    send(driver, "kim", "lobby", "after close")
    wait(driver).until(lambda d: log(d, "kim", "sendRejected")[-1]["d"]["text"] == "after close")
    assert log(driver, "kim", "sendRejected")[-1]["d"]["code"] == "closed"

    # chatd.d.ts declares what the module has: every method and property of ChatClient and
    # the exported classes.
    declared = (ROOT / "web" / "chatd.d.ts").read_text()
    body = declared[declared.index("export class ChatClient"):]
    body = body[:body.index("\n}\n")]
    members = set(re.findall(r"^  (?:readonly )?([a-zA-Z]+)[(<:?]", body, re.M)) - {"constructor"}
    assert {"send", "edit", "older", "listRooms", "state", "rooms", "lastSeq", "on"} <= members
    missing = driver.execute_script("""
const c = window.__c.kim;
return arguments[0].filter((m) => !(m in c));
""", sorted(members))
    assert missing == []
    exported = set(re.findall(r"^export class (\w+)", declared, re.M))
    assert driver.execute_script("return Object.keys(window.__mod).sort()") == sorted(exported)


def test_a_join_while_offline_waits_and_a_kick_stops_for_good(chatd_factory, browser_factory, tmp_path):
    port = free_port()
    control = tmp_path / "control.sock"
    server = chatd_factory(chat_config(port, extra=f'[metrics]\nlisten = ""\n[control]\nsocket = "{control}"\n')).start()
    driver = browser_factory()
    load(driver, f"http://localhost:{port}/")
    make(driver, "kay", token="dev-token", name="kay", backoff={"baseMs": 50, "capMs": 200})
    wait(driver).until(lambda d: state(d, "kay") == "open")

    # Offline, a join waits for the next connection; a message to that room follows it.
    assert server.stop() == 0
    wait(driver).until(lambda d: state(d, "kay") == "waiting")
    driver.execute_script("window.__c.kay.join('later').then(() => window.__log.kay.push({t: 'joinResolved'}))")
    send(driver, "kay", "later", "into the room joined offline")
    server.start()
    wait(driver, 30).until(lambda d: log(d, "kay", "joinResolved") and "into the room joined offline" in resolved(d, "kay"))
    assert driver.execute_script("return window.__c.kay.rooms") == ["lobby", "later"]
    assert [f["room"] for f in sent_frames(driver, "kay", "join")] == ["later"]  # joined once

    # A kick (1008) is final: state closed with chatd's code and reason, no reconnect.
    client_id = driver.execute_script("return window.__c.kay.clientId")
    r = subprocess.run([str(BIN / "chatctl"), "kick", client_id, "--reason", "go away", "--socket", str(control)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    wait(driver).until(lambda d: state(d, "kay") == "closed")
    # A reconnect would have been announced, synchronously, by a `waiting` status.
    assert log(driver, "kay", "status")[-1]["d"] == {"state": "closed", "code": 1008, "reason": "go away"}
    send(driver, "kay", "lobby", "after the kick")
    wait(driver).until(lambda d: log(d, "kay", "sendRejected"))
    assert log(driver, "kay", "sendRejected")[0]["d"] == {"text": "after the kick", "code": "closed"}


def test_a_long_offline_queue_meets_the_rate_limit_and_is_stored_once_in_order(chatd_factory, browser_factory):
    port = free_port()
    server = chatd_factory(chat_config(port, extra='[metrics]\nlisten = ""\n[limits]\nrate_messages = 5\n'
                                                  'rate_window_seconds = 1\n')).start()
    driver = browser_factory()
    load(driver, f"http://localhost:{port}/")
    make(driver, "lou", token="dev-token", name="lou")
    wait(driver).until(lambda d: state(d, "lou") == "open")
    assert server.stop() == 0
    wait(driver).until(lambda d: state(d, "lou") == "waiting")
    # More than 40: chatd closes a connection (1008) after that many frames refused in a row.
    backlog = [f"backlog {i:02}" for i in range(48)]
    for text in backlog:
        send(driver, "lou", "lobby", text)
    server.start()
    # Far more than the 5-frame bucket: chatd refuses some (rate_limited); the library sends
    # those again, with their nonces, and never so many at once that chatd closes it.
    wait(driver, 60).until(lambda d: len(resolved(d, "lou")) == len(backlog))
    statuses = [e["d"] for e in log(driver, "lou", "status")]
    assert statuses[-1] == {"state": "open"} and all(st.get("code") != 1008 for st in statuses)
    assert len(log(driver, "lou", "welcome")) == 2  # never closed for flooding
    assert [text for text, _ in stored(server)] == backlog
    assert_once_in_order(shown(driver, "lou"), backlog)
    assert len(sent_frames(driver, "lou")) > len(backlog)  # some were refused and sent again


def test_the_stored_queue_belongs_to_one_identity(chatd_factory, browser_factory):
    """A tab's sessionStorage outlives the name it was opened with: a message alice queued
    offline is never sent by a client reloaded as bob (the default storageKey names the url,
    the name and a hash of the token), and is still sent, once, by alice's next client."""
    port = free_port()
    server = chatd_factory(chat_config(port, extra='[metrics]\nlisten = ""\n')).start()
    driver = browser_factory()
    load(driver, f"http://localhost:{port}/")
    # storageKey None: the library's default key (the harness gives each client its own).
    make(driver, "alice", token="dev-token", name="alice", rooms=["qroom"], storageKey=None, autoConnect=False)
    send(driver, "alice", "qroom", "alice typed this offline")
    assert [q["text"] for q in driver.execute_script("return window.__c.alice.queued")] == ["alice typed this offline"]
    # The same tab, reloaded as bob (same token): bob's client starts with an empty queue.
    load(driver, f"http://localhost:{port}/")
    make(driver, "bob", token="dev-token", name="bob", rooms=["qroom"], storageKey=None)
    wait(driver).until(lambda d: state(d, "bob") == "open")
    assert driver.execute_script("return window.__c.bob.queued") == []
    # Another token under alice's name is another identity too.
    make(driver, "alice2", token="other-token", name="alice", rooms=["qroom"], storageKey=None, autoConnect=False)
    assert driver.execute_script("return window.__c.alice2.queued") == []
    time.sleep(1)
    assert sent_frames(driver, "bob") == []
    assert stored(server, "qroom") == []
    # alice again (same url, name and token): her message goes out, as hers, once.
    make(driver, "alice3", token="dev-token", name="alice", rooms=["qroom"], storageKey=None)
    wait(driver).until(lambda d: stored(server, "qroom"))
    wait(driver).until(lambda d: d.execute_script("return window.__c.alice3.queued") == [])
    assert [text for text, _ in stored(server, "qroom")] == ["alice typed this offline"]
    wait(driver).until(lambda d: shown(d, "bob", "qroom"))
    assert [(frm, text) for _, frm, text in shown(driver, "bob", "qroom")] == [("alice", "alice typed this offline")]


def test_members_is_asked_at_most_once_per_2_s_and_calls_meanwhile_share_it(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(chat_config(port, extra='[metrics]\nlisten = ""\n')).start()
    driver = browser_factory()
    load(driver, f"http://localhost:{port}/")
    make(driver, "mia", token="dev-token", name="mia")
    wait(driver).until(lambda d: state(d, "mia") == "open")
    got = driver.execute_async_script("""
const done = arguments[arguments.length - 1];
const c = window.__c.mia;
Promise.allSettled([c.members("lobby"), c.members("lobby"), c.members("lobby"), c.members("lobby")])
  .then((all) => done(all.map((r) => r.status === "fulfilled" ? r.value.online : r.reason.code)));
""")
    assert all(isinstance(n, int) and n >= 1 for n in got), got  # all answered, none refused
    assert len(sent_frames(driver, "mia", "members")) == 2  # one at once, one 2 s later for the rest
    assert not log(driver, "mia", "error")
