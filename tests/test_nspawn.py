"""The .deb in a real systemd: a minimal Debian root (debootstrap, cached), booted with
systemd-nspawn, driven with systemctl and chatctl as an operator would.

Run alone:  make deb && python3 -m pytest -q tests/test_nspawn.py
The root is cached in /var/cache/chatd-test/bookworm-minbase-2 (about 45 s to make)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, free_port
from wsclient import Chat

# The root holds what the .deb depends on, so that `dpkg -i` works offline. A change to the
# list below needs a new cache name.
PACKAGES = "systemd,systemd-sysv,dbus,procps,libsqlite3-0"
CACHE = Path(os.environ.get("CHATD_NSPAWN_CACHE", "/var/cache/chatd-test/bookworm-minbase-2"))


def run(*cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd}: {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def ensure_root():
    if (CACHE / "usr/bin/systemctl").exists():
        return
    tmp = CACHE.with_name(CACHE.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    run("debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(tmp),
        "http://deb.debian.org/debian", timeout=1200)
    tmp.rename(CACHE)


class Container:
    def __init__(self, root):
        self.root = root
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "-D", str(root), "--machine=chatdtest"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.init = self._find_init()
        self.sh("systemctl is-system-running --wait || true", timeout=120)

    def _find_init(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The container's systemd (PID 1 inside) is nspawn's child, or its grandchild
            # when nspawn runs an inner child of its own.
            children = run("pgrep", "-P", str(self.proc.pid), check=False).stdout.split()
            grandchildren = [g for c in children for g in run("pgrep", "-P", c, check=False).stdout.split()]
            for pid in children + grandchildren:
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return pid
                except OSError:
                    pass  # gone already: a short-lived process before init
            if self.proc.poll() is not None:
                raise AssertionError("systemd-nspawn exited:\n" + self.proc.stdout.read())
            time.sleep(0.1)
        raise AssertionError("the container's init did not appear")

    def sh(self, script, check=True, timeout=60):
        return run("nsenter", "-t", self.init, "-a", "/bin/sh", "-c", script, check=check, timeout=timeout)

    def main_pid(self):
        return int(self.sh("systemctl show -p MainPID --value chatd.service").stdout.strip())

    def wait_until(self, script, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sh(script, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for: {script}\n" + self.sh("journalctl -u chatd --no-pager | tail -40", check=False).stdout)

    def poweroff(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's init to power off
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def deb():
    r = run("make", "--no-print-directory", "deb", cwd=ROOT, check=False, timeout=3600)
    assert r.returncode == 0, r.stdout + r.stderr
    return next((ROOT / "dist").glob("chatd_*.deb"))


def test_the_deb_in_a_booted_systemd(deb, tmp_path):
    ensure_root()
    root = Path(tempfile.mkdtemp(prefix="chatd-nspawn-"))
    port, metrics = free_port(), free_port()
    try:
        run("cp", "-a", "--reflink=auto", f"{CACHE}/.", str(root))
        shutil.copy(deb, root / "root" / "chatd.deb")
        # The host network is shared: move the sockets off the default ports, and make the
        # watchdog short so that a stopped chatd is caught quickly.
        for unit, listen in (("chatd.socket", port), ("chatd-metrics.socket", metrics)):
            d = root / f"etc/systemd/system/{unit}.d"
            d.mkdir(parents=True)
            (d / "test.conf").write_text(f"[Socket]\nListenStream=\nListenStream=127.0.0.1:{listen}\n")
        d = root / "etc/systemd/system/chatd.service.d"
        d.mkdir(parents=True)
        (d / "test.conf").write_text("[Service]\nWatchdogSec=3s\n")

        box = Container(root)
        try:
            box.sh("dpkg -i /root/chatd.deb", timeout=120)
            # Installed: the sockets are enabled and listening, chatd itself is not running yet.
            assert box.sh("systemctl is-enabled chatd.socket").stdout.strip() == "enabled"
            assert box.sh("systemctl is-active chatd.socket").stdout.strip() == "active"
            assert box.sh("systemctl is-active chatd.service", check=False).stdout.strip() == "inactive"
            assert box.sh("id -u chatd").returncode == 0
            config = f"""
[auth]
tokens = ["dev-token", "keep"]
allowed_origins = ["http://localhost:{port}"]
"""
            box.sh(f"cat > /etc/chatd/chatd.toml <<'EOF'\n{config}\nEOF")

            # The first WebSocket connection starts chatd by socket activation.
            kept = Chat(port, name="kept", token="keep")
            assert box.sh("systemctl is-active chatd.service").stdout.strip() == "active"
            status = json.loads(box.sh("chatctl status --json").stdout)["status"]
            assert status["connections"] == 1 and status["configGeneration"] == 1
            revoked = Chat(port, name="revoked", token="dev-token")

            # systemctl reload applies a changed token list without dropping the valid client.
            box.sh("sed -i 's/\"dev-token\", \"keep\"/\"keep\", \"new\"/' /etc/chatd/chatd.toml")
            box.sh("systemctl reload chatd")
            assert revoked.close_code() == 1008
            newcomer = Chat(port, name="newcomer", token="new")
            kept.send("after reload")
            assert newcomer.message() == "after reload"
            newcomer.close()

            # A SIGSTOPped chatd misses its watchdog pings and systemd restarts it.
            first = box.main_pid()
            box.sh(f"kill -STOP {first}")
            box.wait_until(f"test \"$(systemctl show -p MainPID --value chatd.service)\" != {first} "
                           f"&& test \"$(systemctl show -p MainPID --value chatd.service)\" != 0", timeout=60)
            assert "watchdog" in box.sh("journalctl -u chatd --no-pager").stdout.lower()
            box.wait_until("systemctl is-active chatd.service")

            # systemctl stop: clients get 1001 and chatd exits cleanly.
            client = Chat(port, name="last", token="keep")
            box.sh("systemctl stop chatd.service", timeout=60)
            assert client.close_code() == 1001
            show = box.sh("systemctl show -p ExecMainStatus -p ExecMainCode chatd.service").stdout
            assert "ExecMainStatus=0" in show, show

            # The journal has chatd's lines at their priorities (notice 5, error 3 …).
            lines = [json.loads(l) for l in box.sh("journalctl -u chatd -o json --no-pager").stdout.splitlines() if l]
            ready = [l for l in lines if str(l.get("MESSAGE", "")).startswith("chatd ready")]
            assert ready and all(l["PRIORITY"] == "5" for l in ready)
            assert not any(str(l.get("MESSAGE", "")).startswith("<") for l in lines)
        finally:
            box.poweroff()
    finally:
        shutil.rmtree(root, ignore_errors=True)
