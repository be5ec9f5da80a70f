"""Several chatd nodes on one real PostgreSQL: cross-node delivery in order, presence on
every node, a database restart and a killed node under traffic. Every client's messages are
compared with the shared table."""
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from itertools import count

import pytest

from conftest import chatctl
from pgcluster import CuttableLink, Member, Postgres, history, nginx_upstream, start_nodes

databases = count(1)


@pytest.fixture(scope="module")
def pg():
    server = Postgres().start()
    yield server
    server.cleanup()


@pytest.fixture
def database(pg):
    name = f"chat{next(databases)}"
    return name, pg.new_database(name)


@pytest.fixture
def proxy(tmp_path):
    """nginx balancing over the given node ports; returns its port."""
    procs = []

    def start(ports):
        proc, port = nginx_upstream(tmp_path, ports)
        procs.append(proc)
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def expect_resumed_exactly(pg, name, members):
    """Every member has the table, and someone did move off the killed node, exactly."""
    expect_all(members, [seq for seq, _ in history(pg, name)])
    assert sum(m.reconnects for m in members) >= 1, "nobody was on the killed node"
    assert all(all(m.recovered) for m in members)
    for m in members:
        m.close()


def expect_all(members, expected, timeout=30):
    """Every member was shown exactly `expected` (seqs), in order, once each."""
    for m in members:
        m.wait(lambda m: len(m.seqs) >= len(expected), timeout, f"{len(expected)} messages")
    for m in members:
        assert m.seqs == expected, f"{m.name} saw {len(m.seqs)} messages, history has {len(expected)}"


class Sender(threading.Thread):
    """Sends numbered messages until stopped; an echo of one is its acknowledgement."""

    def __init__(self, member, interval=0.01):
        super().__init__(daemon=True)
        self.member, self.interval = member, interval
        self.sent = []
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            text = f"{self.member.name}-{i}"
            ws = self.member.ws
            try:
                self.member.send(text)
            except Exception:
                # The connection dropped: carry on once the reader has reconnected, if it does.
                if self.member.reconnect_port is None:
                    break
                self.member.wait(lambda m: m.ws is not ws, 30, "a reconnect")
                continue
            self.sent.append(text)
            i += 1
            self.stop.wait(self.interval)  # a send rate, not a synchronisation

    def finish(self):
        """Stops, then sends a marker and waits for its echo: a connection's messages are
        committed in order, so everything this sender sent before it is in the table."""
        self.stop.set()
        self.join()
        marker = f"{self.member.name}-done"
        self.member.send(marker)
        self.member.wait(lambda m: marker in m.texts.values(), 20, "the marker's echo")

    def acked(self):
        return {t for t in self.member.texts.values() if t.startswith(f"{self.member.name}-")}


def test_messages_cross_nodes_in_order_and_presence_counts_every_node(chatd_factory, pg, database):
    name, url = database
    nodes = start_nodes(chatd_factory, url, 3)
    members = [Member(n.port, f"u{i}{j}") for i, n in enumerate(nodes) for j in range(2)]
    # Presence counts members on every node: the last to join sees all six.
    members[-1].wait(lambda m: any(p["online"] == 6 for p in m.presence), 10, "online 6")
    members[0].wait(lambda m: m.presence and m.presence[-1]["online"] == 6, 10, "online 6 on node 1")

    senders = [members[0], members[2], members[4]]
    per_sender = 150
    for i in range(per_sender):
        for s in senders:
            s.send(f"{s.name}-{i}")
    expected = list(range(1, 3 * per_sender + 1))
    expect_all(members, expected)
    stored = history(pg, name)
    assert [seq for seq, _ in stored] == expected
    for m in members:
        assert [m.texts[s] for s in m.seqs] == [t for _, t in stored]
    # Each sender's own messages keep the order they were sent in.
    for s in senders:
        mine = [t for _, t in stored if t.startswith(f"{s.name}-")]
        assert mine == [f"{s.name}-{i}" for i in range(per_sender)]

    status = cluster_status(nodes[0])
    assert status["node"] == "n1" and status["listening"] and status["databaseConnected"]
    assert sorted(status["peers"]) == ["n2", "n3"]

    # A killed node's members leave every count within the node timeout (3 s here).
    nodes[2].stop(signal.SIGKILL)
    members[0].wait(lambda m: m.presence[-1]["online"] == 4, 10, "online 4 after n3 died")
    assert "node n3 is gone" in members[0].presence[-1]["message"]
    for m in members:
        m.close()


def test_database_restart_under_traffic_loses_nothing_acknowledged(chatd_factory, pg, database):
    name, url = database
    nodes = start_nodes(chatd_factory, url, 2)
    members = [Member(n.port, f"r{i}{j}") for i, n in enumerate(nodes) for j in range(2)]
    senders = [Sender(members[0]), Sender(members[2])]
    for s in senders:
        s.start()
    members[1].wait(lambda m: len(m.seqs) >= 50, 20, "traffic before the restart")

    pg.stop("fast")
    # While the database is down a send is answered with an error, not silence.
    probe = members[3]
    errors_before = probe.errors.count("unavailable")
    probe.send("while-down")
    probe.wait(lambda m: m.errors.count("unavailable") > errors_before, 10, "an 'unavailable' error")
    pg.start()

    # After the restart: both listeners are back (the only state to poll: no event tells it).
    for n in nodes:
        wait_listening(n)
    # Node 2 stops sending: what node 2's members get now reaches them through its listener.
    senders[1].finish()
    mark = len(members[3].seqs)
    members[3].wait(lambda m: len(m.seqs) >= mark + 50, 30, "node 1's traffic on node 2 after the restart")
    senders[0].finish()
    # Quiet: every member catches up to the last committed message.
    stored = history(pg, name)
    expected = [seq for seq, _ in stored]
    expect_all(members, expected)
    texts = {t for _, t in stored}
    for s in senders:
        acked = s.acked()
        assert acked and acked <= texts  # nothing acknowledged is lost
    assert "while-down" not in texts
    for n in nodes:
        assert cluster_status(n)["reconnects"] >= 1
    for m in members:
        m.close()


def cluster_status(node):
    return json.loads(chatctl("status", "--json", socket_path=node.control).stdout)["status"]["cluster"]


def wait_listening(node, timeout=20):
    deadline = time.monotonic() + timeout
    while not cluster_status(node)["listening"]:
        assert time.monotonic() < deadline, "the listener did not come back"
        time.sleep(0.1)  # polling a state chatd has no event for


def test_killed_node_clients_resume_elsewhere_without_gaps(chatd_factory, pg, database, proxy):
    name, url = database
    nodes = start_nodes(chatd_factory, url, 3)
    proxy_port = proxy([n.port for n in nodes[1:]])
    # Readers reach nodes 2 and 3 through nginx; the sender is on node 1.
    readers = [Member(proxy_port, f"k{j}", reconnect_port=proxy_port) for j in range(6)]
    sender = Sender(Member(nodes[0].port, "sender"), interval=0.005)
    sender.start()
    readers[0].wait(lambda m: len(m.seqs) >= 100, 20, "traffic before the kill")
    nodes[1].stop(signal.SIGKILL)
    # Those on the dead node reconnect through nginx, to node 3, with `since`.
    readers[0].wait(lambda m: len(m.seqs) >= 400, 30, "traffic after the kill")
    sender.finish()
    sender.member.close()
    expect_resumed_exactly(pg, name, readers)


def test_published_event_reaches_every_node_with_its_number(chatd_factory, pg, database):
    import hashlib
    name, url = database
    key = "k" * 32
    extra = f'[api.keys.ops]\nkey_sha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n'
    nodes = start_nodes(chatd_factory, url, 2, extra=extra)
    members = [Member(n.port, f"p{i}") for i, n in enumerate(nodes)]
    request = urllib.request.Request(f"http://127.0.0.1:{nodes[0].port}/api/publish", method="POST",
                                     data=json.dumps({"room": "lobby", "text": "deploy done"}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["seq"] == 1
    for m in members:
        m.wait(lambda m: m.seqs == [1] and m.texts[1] == "deploy done", 10, "the published event")
    # An event too large for a NOTIFY payload (8000 bytes) is announced by number and read
    # from the table by the other node.
    big = {"rows": ["x" * 100] * 200}
    large = urllib.request.Request(request.full_url, method="POST", headers=request.headers,
                                   data=json.dumps({"room": "lobby", "data": big}).encode())
    with urllib.request.urlopen(large, timeout=10) as response:
        assert json.loads(response.read())["seq"] == 2
    for m in members:
        m.wait(lambda m: m.seqs == [1, 2] and m.data.get(2) == big, 10, "the large event")
        m.close()
    # The database down: the API says 503 and publishes nothing.
    pg.stop("fast")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 503
    finally:
        pg.start()
    assert [seq for seq, _ in history(pg, name)] == [1, 2]


def test_a_large_batch_reaches_the_other_node_in_notifications_not_reads(chatd_factory, pg, database):
    """A batch larger than one NOTIFY payload (8000 bytes) is sent in parts that each carry
    their messages, so the other node delivers it without reading the table. The batch is
    made by freezing PostgreSQL (SIGSTOP) while the first commit is in flight: everything
    sent meanwhile gathers behind it and is committed in one statement."""
    name, url = database
    n1, n2 = start_nodes(chatd_factory, url, 2)
    sender, reader = Member(n1.port, "sender"), Member(n2.port, "reader")
    sender.send("first")
    for m in (sender, reader):
        m.wait(lambda m: m.seqs == [1], 10, "the first message")
    pids = _postgres_pids(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for i in range(150):
            sender.send(f"burst {i:03d} " + "x" * 40)
        deadline = time.monotonic() + 10
        while metric(n1.metrics, "chatd_messages_received_total") < 151 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a counter; there is no event to await
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    expected = list(range(1, 152))
    for m in (sender, reader):
        m.wait(lambda m: m.seqs == expected, 20, "all 151 messages in order")
    assert [text for _, text in history(pg, name)][1:] == [f"burst {i:03d} " + "x" * 40 for i in range(150)]
    assert reader.texts[151] == "burst 149 " + "x" * 40
    reconnects = metric(n2.metrics, "chatd_cluster_listener_reconnects_total")
    assert metric(n2.metrics, "chatd_cluster_gap_reads_total") == 0, f"listener reconnects: {reconnects}"
    # The burst really was committed as a large batch: rows inserted by one transaction
    # share its xmin.
    largest = pg.psql(f"SELECT count(*) FROM chatd_message WHERE room = 'lobby' GROUP BY xmin::text "
                      f"ORDER BY count(*) DESC LIMIT 1", name)
    assert int(largest[0]) >= 100
    sender.close()
    reader.close()


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
               or line.startswith(name + "{"))


def test_moderation_reaches_every_node(chatd_factory, pg, database):
    name, url = database
    n1, n2 = start_nodes(chatd_factory, url, 2)
    alice, bob = Member(n1.port, "alice"), Member(n2.port, "bob")
    for i, who in enumerate([alice, bob, bob]):
        who.send(f"m{i}")
        who.wait(lambda m: len(m.seqs) == i + 1, 10, f"m{i}")  # one at a time: m0 is seq 1
    for m in (alice, bob):
        m.wait(lambda m: len(m.seqs) == 3, 10, "three messages")

    def ctl(node, *args):
        r = chatctl(*args, socket_path=node.control)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    # A delete on node 1 is shown on node 2.
    ctl(n1, "delete", "lobby", "2", "--reason", "spam")
    bob.wait(lambda m: m.deleted == [2], 10, "'deleted' on node 2")
    assert [t for _, t in history(pg, name)] == ["m0", "m2"]

    # A mute on node 1 holds on node 2 once its notification arrives: each try is answered
    # (the message, or the error), so this waits on events, not on time.
    ctl(n1, "mute", "guest:bob", "--for", "10m")
    for attempt in range(50):
        seen, refused = len(bob.seqs), len(bob.errors)
        bob.send(f"muted? {attempt}")
        bob.wait(lambda m: len(m.seqs) > seen or len(m.errors) > refused, 10, "an answer")
        if "muted" in bob.errors:
            break
    assert "muted" in bob.errors
    ctl(n1, "unmute", "guest:bob")

    # An erasure on node 2 removes bob's messages from the shared table.
    r = ctl(n2, "purge-user", "bob", "--reason", "erasure request")
    assert "message(s) of bob" in r.stdout
    assert [t for _, t in history(pg, name)] == ["m0"]

    # The audit log is shared: node 2 lists node 1's actions too.
    audit = json.loads(ctl(n2, "audit", "--json").stdout)["audit"]
    assert [a["action"] for a in audit] == ["delete", "mute", "unmute", "purge-user"]

    # kick --user on node 1 closes bob's connection on node 2.
    ctl(n1, "kick", "--user", "guest:bob")
    bob.thread.join(10)
    assert not bob.thread.is_alive()
    alice.close()


def test_three_nodes_behind_nginx_survive_a_database_restart_and_a_killed_node(chatd_factory, pg, database, proxy):
    """The acceptance run: clients spread over three nodes by nginx; the database restarted
    and a node killed under traffic; every client's messages equal the table."""
    name, url = database
    nodes = start_nodes(chatd_factory, url, 3)
    proxy_port = proxy([n.port for n in nodes])
    members = [Member(proxy_port, f"c{j}", reconnect_port=proxy_port) for j in range(9)]
    senders = [Sender(members[j], interval=0.01) for j in (0, 1, 2)]
    for s in senders:
        s.start()
    members[8].wait(lambda m: len(m.seqs) >= 100, 20, "traffic")

    pg.stop("fast")
    members[4].send("while-down")
    members[4].wait(lambda m: "unavailable" in m.errors, 10, "an 'unavailable' error")
    pg.start()
    for n in nodes:
        wait_listening(n)
    mark = len(members[8].seqs)
    members[8].wait(lambda m: len(m.seqs) >= mark + 100, 30, "traffic after the restart")

    nodes[1].stop(signal.SIGKILL)
    for m in members:
        m.wait(lambda m: len(m.seqs) >= mark + 300, 30, "traffic after the kill")
    for s in senders:
        s.finish()
    stored = {t for _, t in history(pg, name)}
    for s in senders:
        assert s.acked() <= stored  # nothing acknowledged is lost
    expect_resumed_exactly(pg, name, members)


def test_a_node_started_before_its_database_waits_for_it(chatd_factory, pg, database):
    name, url = database
    pg.stop("fast")
    try:
        started = threading.Thread(target=lambda: start_nodes(chatd_factory, url, 1, extra=""), daemon=True)
        started.start()
        # chatd says it is waiting (the only sign: a log line), then the database comes up.
        deadline = time.monotonic() + 20
        while not any("unreachable; trying again" in line for c in chatd_factory.made for line in c.lines):
            assert time.monotonic() < deadline, "chatd did not say it waits for the database"
            time.sleep(0.05)
    finally:
        pg.start()
    started.join(60)
    node = chatd_factory.made[-1]
    assert node.proc.poll() is None and any("chatd ready" in line for line in node.lines)
    member = Member(node.port, "early")
    member.send("hello")
    member.wait(lambda m: m.seqs == [1], 10, "the first message")
    member.close()


def test_a_silent_network_cut_is_noticed_and_caught_up(chatd_factory, pg, database):
    """Node 2 reaches PostgreSQL through a link that is cut without a FIN or RST: its own
    heartbeat stops coming back, so it makes its listener (and its other connections) again
    and catches up from the table."""
    name, url = database
    link = CuttableLink(pg.port)
    try:
        n1 = start_nodes(chatd_factory, url, 1)[0]
        n2 = start_nodes(chatd_factory, url.replace(f":{pg.port}/", f":{link.port}/"), 1)[0]
        sender, reader = Member(n1.port, "s"), Member(n2.port, "r")
        sender.send("before")
        reader.wait(lambda m: len(m.seqs) == 1, 10, "the first message")
        link.cut()
        for i in range(20):
            sender.send(f"after-{i}")
        sender.wait(lambda m: len(m.seqs) == 21, 10, "the sender's echoes")
        # Node timeout 3 s, then the listener is made again and the room read from the table.
        reader.wait(lambda m: len(m.seqs) == 21, 30, "the messages sent after the cut")
        assert reader.seqs == list(range(1, 22))
        assert cluster_status(n2)["reconnects"] >= 1
        sender.close()
        reader.close()
    finally:
        link.close()


def test_old_audit_entries_are_pruned_in_batches(chatd_factory, pg, database):
    """retention.audit_max_age_hours on PostgreSQL: the retention job deletes older entries
    in transactions of at most 1000 rows until none is left, and keeps the recent ones."""
    name, url = database
    (node,) = start_nodes(chatd_factory, url, 1, extra="[retention]\naudit_max_age_hours = 1\ninterval_seconds = 0.2\n")
    pg.psql("INSERT INTO chatd_audit (at, actor, action, target, reason) "
            "SELECT extract(epoch FROM now()) - 3700 - g, 'test', 'mute', 'old' || g, '' FROM generate_series(1, 2500) g", name)
    pg.psql("INSERT INTO chatd_audit (at, actor, action, target, reason) "
            "VALUES (extract(epoch FROM now()) - 3500, 'test', 'mute', 'recent', '')", name)
    deadline = time.monotonic() + 20
    while int(pg.psql("SELECT count(*) FROM chatd_audit", name)[0]) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)  # the job's own timer: there is no event to wait on
    r = chatctl("audit", "--json", socket_path=node.control)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [a["target"] for a in json.loads(r.stdout)["audit"]] == ["recent"]
    # Logged per pass ("retention: deleted N audit entries ..."), each pass in batches of 1000.
    assert sum(int(line.split("deleted ")[1].split()[0]) for line in node.lines if "audit entries older" in line) == 2500


def _postgres_pids(pg):
    """The postmaster and every backend of this test's server."""
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    return [postmaster, *map(int, children)]


def _timed(call):
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def test_a_frozen_database_freezes_nothing_but_what_needs_it(chatd_factory, pg, database, tmp_path):
    """Issue 14: PostgreSQL stopped with SIGSTOP for 12 s while clients join rooms the node has
    not used yet. /healthz, ping round trips of a connected client, joins of a room already
    held, chatctl status, the metrics and the systemd watchdog stay prompt; a message gets
    `unavailable` within the query timeout; the first joiners of new rooms wait for the store
    and nobody else does; after SIGCONT everything goes on without a restart."""
    import socket
    from websockets.sync.client import connect

    from pgcluster import ORIGIN, node_config
    from conftest import free_port

    _, url = database
    # The watchdog: chatd's sd_notify datagrams, read here, as systemd would.
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.2)
    watchdog_pings = []

    def read_notify():
        while True:
            try:
                data = notify.recv(4096).decode()
            except socket.timeout:
                continue
            except OSError:
                return
            if "WATCHDOG=1" in data:
                watchdog_pings.append(time.monotonic())

    threading.Thread(target=read_notify, daemon=True).start()
    port, metrics = free_port(), free_port()
    control = tmp_path / "control.sock"
    node = chatd_factory(node_config(port, url, "n1", f'\n[control]\nsocket = "{control}"\n'
                                                      f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n'),
                         env={"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"})
    node.port = port
    node.start()
    other = start_nodes(chatd_factory, url, 1)[0]  # a second node: the cluster path is in use
    witness = Member(node.port, "witness")
    witness.send("before")
    witness.wait(lambda m: m.seqs == [1], 10, "the first message")
    # A room of its own: unread presence events would fill the client's queue and hold its pongs.
    ws = connect(f"ws://127.0.0.1:{node.port}/chat?token=dev-token&name=pinger&room=pings", origin=ORIGIN, open_timeout=10)

    def ping_rtt():
        return _timed(lambda: ws.ping().wait(10))[0]

    def healthz():
        return _timed(lambda: urllib.request.urlopen(f"http://127.0.0.1:{node.port}/healthz", timeout=10).status)

    def join_held_room():
        def run():
            with connect(f"ws://127.0.0.1:{node.port}/chat?token=dev-token&name=late&room=lobby",
                         origin=ORIGIN, open_timeout=10) as c:
                while json.loads(c.recv(10))["type"] != "history":
                    pass
        return _timed(run)[0]

    fresh_results = {}

    def join_fresh_room(i):
        started = time.monotonic()
        try:
            with connect(f"ws://127.0.0.1:{node.port}/chat?token=dev-token&name=f{i}&room=fresh{i}",
                         origin=ORIGIN, open_timeout=30) as c:
                while True:
                    event = json.loads(c.recv(30))
                    if event["type"] in ("history", "error"):
                        fresh_results[i] = (event["type"], time.monotonic() - started)
                        return
        except Exception as error:  # noqa: BLE001 - recorded and asserted below
            fresh_results[i] = (repr(error), time.monotonic() - started)

    pids = _postgres_pids(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        joiners = [threading.Thread(target=join_fresh_room, args=(i,), daemon=True) for i in range(3)]
        for t in joiners:
            t.start()
        refused = {}

        def await_refusal():
            sent = time.monotonic()
            witness.send("while-frozen")
            witness.wait(lambda m: "unavailable" in m.errors, 12, "an 'unavailable' error")
            refused["after"] = time.monotonic() - sent

        refusal = threading.Thread(target=await_refusal, daemon=True)
        refusal.start()
        samples = {"ping": [], "healthz": [], "held join": [], "status": [], "metrics": []}
        while time.monotonic() - frozen_at < 12:
            samples["ping"].append(ping_rtt())
            elapsed, status = healthz()
            assert status == 200
            samples["healthz"].append(elapsed)
            samples["held join"].append(join_held_room())
            samples["status"].append(_timed(lambda: chatctl("status", socket_path=control))[0])
            samples["metrics"].append(_timed(lambda: urllib.request.urlopen(
                f"http://127.0.0.1:{metrics}/metrics", timeout=10).read())[0])
            time.sleep(0.2)
        refusal.join(1)
        frozen_pings = [t for t in watchdog_pings if t >= frozen_at]
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    thawed_at = time.monotonic()
    print("while frozen, worst:", {k: round(max(v), 3) for k, v in samples.items()}, "fresh joins:", fresh_results,
          "refused after:", refused)
    for what, values in samples.items():
        # The loops and the control socket never wait for the database.
        assert max(values) < 1.0, f"{what} took {max(values):.2f} s while the database was frozen"
    gaps = [b - a for a, b in zip(frozen_pings, frozen_pings[1:])]
    assert len(frozen_pings) >= 8 and max(gaps) < 2.0, f"watchdog pings while frozen: {len(frozen_pings)}, gaps {gaps}"
    # Refused within the write deadline (5 s), not after the thaw.
    assert refused.get("after", 99) < 6.5, f"the message sent while frozen: {refused}"
    # New rooms wait for the store, at most its read deadline (2 s), then open.
    for t in joiners:
        t.join(30)
    assert all(result[0] == "history" and result[1] < 6 for result in fresh_results.values()), fresh_results
    assert len(fresh_results) == 3

    # Thawed: messages are stored and delivered again, on both nodes, without a restart.
    witness.send("after")
    witness.wait(lambda m: "after" in m.texts.values(), 20, "a message after the thaw")
    remote = Member(other.port, "remote")
    remote.send("from the other node")
    witness.wait(lambda m: "from the other node" in m.texts.values(), 20, "a message from the other node")
    print(f"thawed; a message went round in {time.monotonic() - thawed_at:.2f} s")
    ws.close()
    for m in (witness, remote):
        m.close()


def test_a_nonce_resent_to_the_other_node_yields_the_original(chatd_factory, pg, database):
    """No duplicates across nodes: the window is the shared table. A resend on the other
    node finds the original there; two nodes racing with one nonce store one message (the
    unique index decides, and the loser's batch is kept)."""
    from pgcluster import ORIGIN
    from websockets.sync.client import connect

    name, url = database
    nodes = start_nodes(chatd_factory, url, 2)

    def join(port, who):
        ws = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name={who}&room=lobby", origin=ORIGIN, open_timeout=10)
        next_event(ws, "history")
        return ws

    def next_event(ws, type_, pred=lambda e: True):
        deadline = time.monotonic() + 10
        while True:
            event = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if event["type"] == type_ and pred(event):
                return event

    def nonce_message(text, nonce):
        return json.dumps({"type": "message", "text": text, "nonce": nonce})

    witness = join(nodes[1].port, "witness")
    ann = join(nodes[0].port, "ann")
    ann.send(nonce_message("queued offline", "n-1"))
    first = next_event(ann, "message")["message"]
    assert next_event(witness, "message")["message"] == first
    ann.close()

    ann = join(nodes[1].port, "ann")
    ann.send(nonce_message("queued offline", "n-1"))
    again = next_event(ann, "message")
    assert again.get("duplicate") is True and again["message"] == first
    assert [t for _, t in history(pg, name)] == ["queued offline"]

    # At once on both nodes, several times: one message per nonce, whatever the order.
    other = join(nodes[0].port, "ann")
    for i in range(20):
        ann.send(nonce_message(f"race {i}", f"race-{i}"))
        other.send(nonce_message(f"race {i}", f"race-{i}"))
    for ws in (ann, other):
        next_event(ws, "message", lambda e: e["message"]["text"] == "race 19")
    ann.send(nonce_message("after the race", "last"))
    last = next_event(witness, "message", lambda e: e["message"]["text"] == "after the race")["message"]
    stored = history(pg, name)
    assert sorted(t for _, t in stored) == sorted(["queued offline", "after the race"] + [f"race {i}" for i in range(20)])
    assert stored[-1] == (last["seq"], "after the race")

    # The last line of defence, made certain: another node's insert of the same nonce is in
    # flight (uncommitted, so neither the lookup nor the insert's own check sees it). This
    # insert waits on the unique index, skips the row, and answers with the original.
    from pgcluster import pg_bin
    author = pg.psql(f"SELECT author FROM chatd_message WHERE text = 'after the race'", name)[0]
    holder = subprocess.Popen([
        *pg.as_postgres, pg_bin("psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", name,
        "-v", "ON_ERROR_STOP=1", "-c",
        "BEGIN; INSERT INTO chatd_message (room, seq, id, sender, text, sent_at, author, nonce) VALUES "
        f"('lobby', 100000, 'planted', 'ann', 'planted', '2026-01-01T00:00:00.000Z', '{author}', 'planted'); "
        "SELECT pg_sleep(1.5); COMMIT;"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    ann.send(nonce_message("planted", "planted"))
    answer = next_event(ann, "message", lambda e: e["message"]["text"] == "planted")
    assert holder.wait(10) == 0
    assert answer.get("duplicate") is True and answer["message"]["id"] == "planted" and answer["message"]["seq"] == 100000
    ann.send(nonce_message("after the planted one", "later"))
    later = next_event(witness, "message")["message"]  # nothing for the duplicate before it
    assert later["text"] == "after the planted one" and later["seq"] > last["seq"]
    assert [t for _, t in history(pg, name)].count("planted") == 1
    for ws in (witness, ann, other):
        ws.close()


def test_typing_crosses_nodes(chatd_factory, pg, database):
    """Issue 17, item 4: `typing` reaches the room's members on the other nodes too."""
    from pgcluster import ORIGIN
    from websockets.sync.client import connect

    _, url = database
    nodes = start_nodes(chatd_factory, url, 2)

    def open_(node, name):
        ws = connect(f"ws://127.0.0.1:{node.port}/chat?token=dev-token&name={name}&room=lobby", origin=ORIGIN,
                     open_timeout=10)
        while json.loads(ws.recv(timeout=10))["type"] != "history":
            pass
        return ws

    ann, bob = open_(nodes[0], "ann"), open_(nodes[1], "bob")
    ann.send(json.dumps({"type": "typing"}))
    while True:
        event = json.loads(bob.recv(timeout=10))
        if event["type"] == "typing":
            assert event == {"type": "typing", "room": "lobby", "from": "ann"}
            break
    ann.close()
    bob.close()


def test_a_reply_crosses_nodes_and_is_in_the_shared_table(chatd_factory, pg, database):
    """Issue 17, item 3: `replyTo` is carried in the notification and stored in PostgreSQL."""
    from pgcluster import ORIGIN
    from websockets.sync.client import connect

    name, url = database
    nodes = start_nodes(chatd_factory, url, 2)

    def open_(node, who):
        ws = connect(f"ws://127.0.0.1:{node.port}/chat?token=dev-token&name={who}&room=lobby", origin=ORIGIN,
                     open_timeout=10)
        while json.loads(ws.recv(timeout=10))["type"] != "history":
            pass
        return ws

    def next_message(ws):
        while True:
            event = json.loads(ws.recv(timeout=10))
            if event["type"] == "message":
                return event["message"]

    ann, bob = open_(nodes[0], "ann"), open_(nodes[1], "bob")
    ann.send(json.dumps({"type": "message", "text": "lunch?"}))
    asked = next_message(bob)
    bob.send(json.dumps({"type": "message", "text": "yes", "replyTo": asked["seq"]}))
    assert next_message(ann)["text"] == "lunch?"  # her own, first
    answer = next_message(ann)
    assert (answer["text"], answer["replyTo"]) == ("yes", asked["seq"])
    rows = pg.psql("SELECT reply_to FROM chatd_message WHERE room = 'lobby' AND text = 'yes'", name)
    assert rows == [str(asked["seq"])]
    ann.close()
    bob.close()


def test_an_edit_crosses_nodes_in_its_place_and_a_resume_on_another_node_gets_it(chatd_factory, pg, database):
    """Issue 17, items 1 and 6: an edit takes the room's next number in PostgreSQL, reaches
    the other node's members in order among the messages, changes the shared row (the text
    it replaced kept in the edit's), and a client that resumes from before it on the other
    node ends with what a fresh joiner there sees."""
    from pgcluster import ORIGIN
    from websockets.sync.client import connect

    name, url = database
    nodes = start_nodes(chatd_factory, url, 2)

    def open_(node, who, since=None):
        query = f"token=dev-token&name={who}&room=lobby" + (f"&since={since}" if since is not None else "")
        ws = connect(f"ws://127.0.0.1:{node.port}/chat?{query}", origin=ORIGIN, open_timeout=10)
        while (event := json.loads(ws.recv(timeout=10)))["type"] != "history":
            pass
        return ws, event

    def next_of(ws, *types):
        while True:
            event = json.loads(ws.recv(timeout=10))
            if event["type"] in types:
                return event

    (ann, _), (carol, _) = open_(nodes[0], "ann"), open_(nodes[1], "carol")
    ann.send(json.dumps({"type": "message", "text": "helo"}))
    first = next_of(carol, "message")["message"]
    seen = first["seq"]
    ann.send(json.dumps({"type": "edit", "seq": first["seq"], "text": "hello"}))
    ann.send(json.dumps({"type": "message", "text": "after the edit"}))
    edited = next_of(carol, "edited", "message")
    assert edited["type"] == "edited", "the edit reached the other node after the message behind it"
    assert (edited["seq"], edited["id"], edited["text"], edited["at"]) == (first["seq"], first["id"], "hello", seen + 1)
    assert next_of(carol, "message")["message"]["seq"] == seen + 2
    rows = pg.psql(f"SELECT text || '|' || coalesce(edited_at, '') FROM chatd_message WHERE room = 'lobby' AND seq = {seen}", name)
    assert rows == [f"hello|{edited['editedAt']}"]
    assert pg.psql(f"SELECT previous FROM chatd_message WHERE room = 'lobby' AND edit_of = {seen}", name) == ["helo"]

    fresh, current = open_(nodes[1], "fresh")
    back, resumed = open_(nodes[1], "back", since=seen)
    assert resumed["recovered"] is True
    view = {seen: first["text"]}
    view.update({m["seq"]: m["text"] for m in resumed["messages"]})
    for edit in resumed.get("edits", []):
        view[edit["seq"]] = edit["text"]
    assert view == {m["seq"]: m["text"] for m in current["messages"]}
    assert [m["editedAt"] for m in current["messages"] if m["seq"] == seen] == [edited["editedAt"]]
    for ws in (ann, carol, fresh, back):
        ws.close()


def test_bans_and_mutes_are_shared_and_outlive_a_node_restart(chatd_factory, pg, database):
    """A ban on node 1 closes the banned identity's connection on node 2 (1008 "banned")
    and node 2 refuses its upgrades; a mute set on node 1 holds on node 2 after node 2
    restarts (read from chatd_restrictions before its doors open)."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from pgcluster import ORIGIN
    from wsclient import Chat

    name, url = database
    n1, n2 = start_nodes(chatd_factory, url, 2)

    def ctl(node, *args):
        r = chatctl(*args, socket_path=node.control)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    def refused(node, who):
        try:
            connect(f"ws://127.0.0.1:{node.port}/chat?token=dev-token&name={who}&room=lobby", origin=ORIGIN,
                    open_timeout=10).close()
        except InvalidStatus as refusal:
            return refusal.response.status_code
        return None

    mallory = Chat(n2.port, name="mallory", origin=ORIGIN)
    ctl(n1, "ban", "guest:mallory", "--reason", "abuse")
    assert mallory.close_code() == 1008 and mallory.ws.close_reason == "banned"
    # The notification that closed her also holds the ban on node 2 (and it is in the table).
    assert refused(n2, "mallory") == 403
    assert pg.psql("SELECT kind, target FROM chatd_restrictions", name) == ["ban|guest:mallory"]
    [ban] = json.loads(ctl(n2, "bans", "--json").stdout)["restrictions"]
    assert ban["target"] == "guest:mallory" and ban["actor"].startswith("chatctl (root") and ban["reason"] == "abuse"

    ctl(n1, "mute", "guest:bob", "--for", "1h")
    n2.stop()
    n2.start()
    assert refused(n2, "mallory") == 403
    bob = Chat(n2.port, name="bob", origin=ORIGIN)
    bob.send("muted?")
    assert bob.until("error")["code"] == "muted"

    # Lifted on node 2, both hold no more anywhere: the unban reaches node 1 by notification.
    ctl(n2, "unban", "guest:mallory")
    ctl(n2, "unmute", "guest:bob")
    deadline = time.monotonic() + 10
    while refused(n1, "mallory") == 403:
        assert time.monotonic() < deadline, "the unban did not reach node 1"
        time.sleep(0.05)  # each try is answered; this only spaces them
    bob.send("back")
    assert bob.message() == "back"
    bob.close()
    audit = json.loads(ctl(n1, "audit", "--json").stdout)["audit"]
    assert [a["action"] for a in audit] == ["ban", "mute", "unban", "unmute"]


def test_reactions_from_two_nodes_are_counted_once_each_and_reach_both(chatd_factory, pg, database):
    """Issue 17, item 2 on PostgreSQL: reaction changes from both nodes at once are each a
    numbered entry; every member on both nodes ends with the counts in chatd_message, each
    reader counted once (chatd_reaction); a resume on either node ends with them too."""
    from pgcluster import ORIGIN
    from websockets.sync.client import connect

    name, url = database
    nodes = start_nodes(chatd_factory, url, 2)

    def open_(node, who, since=None):
        query = f"token=dev-token&name={who}&room=lobby" + (f"&since={since}" if since is not None else "")
        ws = connect(f"ws://127.0.0.1:{node.port}/chat?{query}", origin=ORIGIN, open_timeout=10)
        while (event := json.loads(ws.recv(timeout=10)))["type"] != "history":
            pass
        return ws, event

    def next_of(ws, type_):
        while True:
            event = json.loads(ws.recv(timeout=10))
            if event["type"] == type_:
                return event

    (ann, _), (bob, _) = open_(nodes[0], "ann"), open_(nodes[1], "bob")
    ann.send(json.dumps({"type": "message", "text": "vote"}))
    vote = next_of(bob, "message")["message"]
    next_of(ann, "message")
    readers = [open_(nodes[i % 2], f"r{i}")[0] for i in range(6)]
    for ws in readers:
        ws.send(json.dumps({"type": "react", "seq": vote["seq"], "emoji": "👍"}))
    for ws in readers[:2]:
        ws.send(json.dumps({"type": "react", "seq": vote["seq"], "emoji": "👍"}))  # again: no second count
    readers[5].send(json.dumps({"type": "react", "seq": vote["seq"], "emoji": "🎉"}))
    expected = {"👍": 6, "🎉": 1}
    for ws in (ann, bob):
        changes = [next_of(ws, "reactions") for _ in range(9)]
        assert sorted(c["at"] for c in changes) == [c["at"] for c in changes], "out of order"
        assert changes[-1]["counts"] == expected
    stored = pg.psql(f"SELECT reactions FROM chatd_message WHERE room = 'lobby' AND seq = {vote['seq']}", name)
    assert {e: n for e, n in json.loads(stored[0])} == expected
    assert pg.psql(f"SELECT count(*) FROM chatd_reaction WHERE room = 'lobby' AND seq = {vote['seq']}", name) == ["7"]
    for node in nodes:
        back, resumed = open_(node, "back", since=vote["seq"])
        assert resumed["reactions"][-1]["counts"] == expected
        fresh, current = open_(node, "r0")
        shown = next(m for m in current["messages"] if m["seq"] == vote["seq"])
        assert (shown["reactions"], shown["mine"]) == (expected, ["👍"])
        back.close()
        fresh.close()
    for ws in [ann, bob, *readers]:
        ws.close()


def test_a_read_on_one_node_reaches_the_same_identitys_tab_on_the_other(chatd_factory, pg, database):
    """Issue 17, item 5: a read position is stored in chatd_read_marker, told to the reader's
    connections on the other node (and not to another identity there), and a welcome on
    either node counts from it."""
    from pgcluster import ORIGIN
    from websockets.sync.client import connect

    name, url = database
    nodes = start_nodes(chatd_factory, url, 2)

    def open_(node, who):
        ws = connect(f"ws://127.0.0.1:{node.port}/chat?token=dev-token&name={who}&room=lobby", origin=ORIGIN, open_timeout=10)
        return ws, next_of(ws, "unread")

    def next_of(ws, *types):
        while True:
            event = json.loads(ws.recv(timeout=10))
            if event["type"] in types:
                return event

    (ann_a, _), (ann_b, _), (bob_b, _) = open_(nodes[0], "ann"), open_(nodes[1], "ann"), open_(nodes[1], "bob")
    for text in ("one", "two", "three"):
        bob_b.send(json.dumps({"type": "message", "text": text}))
    while next_of(ann_a, "message")["message"]["seq"] != 3:
        pass
    ann_a.send(json.dumps({"type": "read", "seq": 2}))
    assert next_of(ann_a, "read") == {"type": "read", "room": "lobby", "seq": 2}
    assert next_of(ann_b, "read") == {"type": "read", "room": "lobby", "seq": 2}
    # bob, on the node that was told, hears nothing of it.
    bob_b.send(json.dumps({"type": "ping"}))
    assert next_of(bob_b, "pong", "read")["type"] == "pong"
    rows = pg.psql("SELECT reader || '|' || room || '|' || seq FROM chatd_read_marker", name)
    assert len(rows) == 1 and rows[0].endswith(":ann|lobby|2"), rows
    # A new tab on either node starts from the shared position.
    for node in nodes:
        tab, unread = open_(node, "ann")
        assert unread == {"type": "unread", "room": "lobby", "readSeq": 2, "unread": 1, "lastSeq": 3}
        tab.close()
    # The other node's tab reads further: the first is told.
    ann_b.send(json.dumps({"type": "read", "seq": 3}))
    assert next_of(ann_b, "read")["seq"] == 3
    assert next_of(ann_a, "read") == {"type": "read", "room": "lobby", "seq": 3}
    for ws in (ann_a, ann_b, bob_b):
        ws.close()


def test_a_database_of_the_previous_release_is_migrated_and_keeps_working(chatd_factory, pg, database):
    """Issue 17, item 8: a database the release before edits, reactions, read markers and
    durable bans left (tests/fixtures/postgres-0.x-schema.sql: its DDL and rows) is taken
    by today's nodes: its messages are shown (with their reply), and every new feature works
    on them, on both nodes."""
    from pathlib import Path

    from pgcluster import ORIGIN
    from websockets.sync.client import connect

    name, url = database
    pg.psql((Path(__file__).parent / "fixtures" / "postgres-0.x-schema.sql").read_text(), name)
    nodes = start_nodes(chatd_factory, url, 2, moderator_tokens=["mod-token"])

    def open_(node, query):
        ws = connect(f"ws://127.0.0.1:{node.port}/chat?{query}", origin=ORIGIN, open_timeout=10)
        while (event := json.loads(ws.recv(timeout=10)))["type"] != "history":
            pass
        return ws, event

    def next_of(ws, type_):
        while True:
            event = json.loads(ws.recv(timeout=10))
            assert event["type"] != "error", event
            if event["type"] == type_:
                return event

    ann, welcome = open_(nodes[0], "token=dev-token&name=ann&room=lobby")
    assert [(m["seq"], m["text"], m.get("replyTo")) for m in welcome["messages"]] == [
        (1, "from the old release", None), (2, "a reply, from then", 1)]
    mia, _ = open_(nodes[1], "token=mod-token&name=mia&room=lobby")
    mia.send(json.dumps({"type": "edit", "seq": 1, "text": "from the old release (edited)"}))
    assert next_of(ann, "edited")["at"] == 3
    ann.send(json.dumps({"type": "react", "seq": 2, "emoji": "👍"}))
    assert next_of(mia, "reactions")["counts"] == {"👍": 1}
    ann.send(json.dumps({"type": "read", "seq": 2}))
    assert next_of(ann, "read")["seq"] == 2
    mia.send(json.dumps({"type": "delete", "seq": 2}))
    assert next_of(ann, "deleted")["seq"] == 2
    ann.send(json.dumps({"type": "message", "text": "and a new one"}))
    assert next_of(mia, "message")["message"]["seq"] == 6
    assert history(pg, name) == [(1, "from the old release (edited)"), (6, "and a new one")]
    assert chatctl("ban", "token:dev:nobody", "--reason", "test", socket_path=nodes[0].control).returncode == 0
    assert pg.psql("SELECT count(*) FROM chatd_restrictions", name) == ["1"]
    assert int(pg.psql("SELECT count(*) FROM chatd_audit", name)[0]) >= 3  # the old mute, the edit, the delete, the ban
    for ws in (ann, mia):
        ws.close()
