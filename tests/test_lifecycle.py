"""chatd's lifecycle as a process: a stop signal at any moment of the start, during a long
wait for the database, and with a store that does not answer; each stops cleanly and in the
stated time (issue 14, item 3, and the review of it)."""
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request

from conftest import BIN, ROOT, chatctl, free_port, shipped_config
from wsclient import Chat

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def caught_signals(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigCgt:"):
            return int(line.split(":")[1], 16)
    return 0


def test_a_stop_signal_at_any_moment_of_the_start_stops_cleanly(tmp_path):
    """From the moment chatd handles SIGTERM, through binding and READY: one signal, exit 0,
    the control socket gone, never a hang or a crash (it used to trap in NIO's bind, hang, or
    report READY after stopping)."""
    port, metrics = free_port(), free_port()
    control = tmp_path / "control.sock"
    config = tmp_path / "chatd.toml"
    config.write_text(shipped_config(port, metrics_port=metrics, control_socket=control,
                                     history_path=tmp_path / "history.sqlite"))
    outcomes = []
    for run in range(20):
        proc = subprocess.Popen([str(BIN / "chatd"), "--config", str(config)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while proc.poll() is None and not caught_signals(proc.pid) & SIGTERM_BIT:
            time.sleep(0.0002)
        time.sleep(0.001 * (run % 5))
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise AssertionError(f"run {run}: chatd hung after SIGTERM:\n{out}")
        outcomes.append(proc.returncode)
        assert proc.returncode == 0, f"run {run}: exit {proc.returncode}:\n{out}"
        assert not control.exists(), f"run {run}: the control socket was left behind:\n{out}"
    assert outcomes == [0] * 20


def test_a_stop_while_waiting_for_the_database_is_prompt(tmp_path):
    """A cluster node waits up to a minute for its database at start; a stop signal meanwhile
    ends the wait (it used to retry against its own stopped pool until the minute was up,
    past systemd's TimeoutStopSec)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]  # nothing listens once the with-block is left
    port = free_port()
    config = tmp_path / "chatd.toml"
    config.write_text(shipped_config(port, history_path=tmp_path / "history.sqlite",
                                     cluster__database_url=f"postgres://chatd@127.0.0.1:{dead}/chatd"))
    proc = subprocess.Popen([str(BIN / "chatd"), "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    waiting = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if "unreachable; trying again" in line:
                waiting.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert waiting.wait(20), "".join(lines)
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, "".join(lines)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
    # One connection attempt at most (its deadline is 3 s), not the minute of patience.
    assert took < 8, f"{took:.1f} s:\n{''.join(lines)}"
    assert any("stopped before it was ready" in line for line in lines), "".join(lines)


def test_a_store_that_does_not_answer_does_not_hold_the_stop_past_the_drain(tmp_path, chatd_factory):
    """With the history's write lock held elsewhere (a commit waits up to SQLite's 5 s busy
    timeout), a graceful stop still ends within server.drain_seconds: what is not committed
    by then is not sent."""
    port, metrics = free_port(), free_port()
    history = tmp_path / "history.sqlite"
    server = chatd_factory(shipped_config(port, metrics_port=metrics, history_path=history,
                                          server__drain_seconds=1)).start()
    chat = Chat(port)
    chat.send("committed")
    assert chat.message() == "committed"
    holder = sqlite3.connect(history, timeout=1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        chat.send("stuck behind the lock")
        # Received (counted) and waiting in the committer: nothing comes back while it does.
        received = 0
        while received < 2:
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read().decode()
            received = next(int(float(line.split()[-1])) for line in text.splitlines()
                            if line.startswith("chatd_messages_received_total"))
        server.proc.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        assert chat.close_code(timeout=10) == 1001
        assert server.proc.wait(timeout=15) == 0
        took = time.monotonic() - asked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert took < 3.5, f"the stop took {took:.1f} s with drain_seconds = 1"


def test_a_second_chatd_never_takes_over_a_live_control_socket(tmp_path, chatd_factory):
    """Two chatds with one control.socket path and different ports: the second serves chat
    without a control socket, and its stop leaves the first's socket in place."""
    control = tmp_path / "control.sock"
    first = chatd_factory(shipped_config(free_port(), control_socket=control,
                                         history_path=tmp_path / "first.sqlite")).start()
    second = chatd_factory(shipped_config(free_port(), control_socket=control,
                                          history_path=tmp_path / "second.sqlite")).start()
    assert any("another process (another chatd?) serves" in line for line in second.lines), "".join(second.lines)
    second.stop()
    assert control.exists()
    status = chatctl("status", "--json", socket_path=control)
    assert status.returncode == 0 and f'"pid":{first.proc.pid}' in status.stdout.replace(" ", ""), status.stdout
