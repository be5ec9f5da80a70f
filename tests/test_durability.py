"""History survives SIGKILL: every message any client received is in history afterwards,
in order, once (the rule: a message is committed before it is broadcast)."""
import json
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import chat_config, free_port

SENDERS = 3


def test_sigkill_while_clients_send_loses_nothing_anyone_saw(chatd_factory):
    port = free_port()
    server = chatd_factory(chat_config(port, extra="[limits]\nrate_messages = 100000\n")
                           + '\n[history]\nresume_limit = 100000\n')
    # The default history path is per chatd instance (conftest): make it explicit here too.
    server.config.write_text(server.config.read_text().replace(
        "resume_limit = 100000", f'resume_limit = 100000\npath = "{server.dir}/history.sqlite"'))
    server.start()

    received = {}  # client -> [(seq, text)]
    enough = threading.Event()
    lock = threading.Lock()

    def client(i):
        ws = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name=c{i}", origin=f"http://localhost:{port}",
                     open_timeout=10)
        seen = received.setdefault(i, [])
        n = 0
        try:
            while True:
                ws.send(json.dumps({"type": "message", "text": f"c{i}-{n}"}))
                n += 1
                # Drain whatever has arrived without waiting.
                while True:
                    try:
                        event = json.loads(ws.recv(timeout=0 if n % 10 else 0.05))
                    except TimeoutError:
                        break
                    if event["type"] == "message":
                        with lock:
                            seen.append((event["message"]["seq"], event["message"]["text"]))
                            if sum(len(v) for v in received.values()) >= 600:
                                enough.set()
        except (ConnectionClosed, OSError):
            return

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(SENDERS)]
    for t in threads:
        t.start()
    assert enough.wait(60), "clients did not receive enough messages"
    server.proc.kill()  # SIGKILL: no flush, no goodbye
    server.proc.wait()
    for t in threads:
        t.join(30)

    server.start()
    reader = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name=reader&since=0", origin=f"http://localhost:{port}",
                     open_timeout=10)
    while (event := json.loads(reader.recv(timeout=10)))["type"] != "history":
        pass
    assert event["recovered"] is True
    history = [(m["seq"], m["text"]) for m in event["messages"]]
    seqs = [s for s, _ in history]
    assert seqs == list(range(1, len(seqs) + 1)), "history is not 1..N in order without duplicates"
    stored = dict(history)
    for i, seen in received.items():
        assert seen, f"client {i} saw nothing"
        for seq, text in seen:
            assert stored.get(seq) == text, f"client {i} received seq {seq} ({text}) which history does not hold"
        # Each client saw the room in history's order.
        assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    reader.close()
