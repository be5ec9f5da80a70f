"""End-to-end fixtures: a real chatd process, and headless Chromium through Debian's driver."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("CHATD_BIN_DIR", ROOT / ".build" / "debug"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Chatd:
    """chatd as a child process; start() returns once chatd logs that it is ready."""

    def __init__(self, config_text: str, env=None):
        self.dir = Path(tempfile.mkdtemp(prefix="chatd-test-"))
        self.config = self.dir / "chatd.toml"
        own_history = f"{self.dir}/history.sqlite"
        if "[history]" not in config_text:
            # Each chatd of the tests keeps its own history, kept across its restarts.
            config_text += f'\n[history]\npath = "{own_history}"\n'
        elif toml_value(config_text, "history.path") == '""':
            # The shipped config's "" means ./data under the repository: keep tests apart.
            config_text = toml_set(config_text, "history.path", own_history)
        self.config.write_text(config_text)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.lines = []

    def start(self, timeout=20):
        self.proc = subprocess.Popen(
            [str(BIN / "chatd"), "--config", str(self.config)],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        ready = threading.Event()

        def pump(proc=self.proc):
            for line in proc.stdout:
                self.lines.append(line)
                if "chatd ready" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            raise RuntimeError("chatd did not become ready:\n" + "".join(self.lines))
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def chatctl(*args, socket_path=None, user=None):
    """Runs chatctl (as `user` when given, through setpriv) against a control socket."""
    cmd = [str(BIN / "chatctl"), *args]
    if socket_path:
        cmd += ["--socket", str(socket_path)]
    if user:
        cmd = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def chat_config(port, web_root=None, extra=""):
    listen = f'["127.0.0.1:{port}", "[::1]:{port}"]'
    web = f'web_root = "{web_root}"\n' if web_root else ""
    return f"""
[server]
listen = {listen}
{web}
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}", "http://127.0.0.1:{port}"]
[log]
level = "info"
{extra}
"""


# The example config as shipped; CHATD_SHIPPED_CONFIG points the tests at another copy of it
# (an installed /etc/chatd/chatd.toml, or an older tree's when its binaries are tested).
SHIPPED_CONFIG = Path(os.environ.get("CHATD_SHIPPED_CONFIG", ROOT / "etc" / "chatd.toml"))


def toml_literal(value) -> str:
    """A Python value as a TOML value (strings quoted and escaped as JSON strings are)."""
    import json
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    raise TypeError(f"no TOML literal for {value!r}")


def _toml_key_line(lines, dotted_key):
    """Index of the line assigning `dotted_key` ("section.key", section may be dotted) and
    whether that line is a commented-out default (`# key = ...` before any commented-out
    sub-table of that section: those keys belong to the sub-table, not to the section)."""
    section, _, key = dotted_key.rpartition(".")
    if not section or not key:
        raise KeyError(f"{dotted_key}: want section.key")
    header = f"[{section}]"
    start = next((i for i, l in enumerate(lines) if l.strip() == header), None)
    if start is None:
        raise KeyError(f"{dotted_key}: no {header} in the config")
    commented = None
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped.startswith("["):
            break
        if stripped.startswith("# ["):
            commented = commented if commented is not None else -1
        name, eq, _ = stripped.partition("=")
        if eq and name.strip() == key:
            return i, False
        if commented is None and stripped.startswith("#"):
            name, eq, _ = stripped[1:].partition("=")
            if eq and name.strip() == key:
                commented = i
    if commented is not None and commented >= 0:
        return commented, True
    raise KeyError(f"{dotted_key}: not in {header} of the config")


def toml_value(text, dotted_key):
    """The raw TOML value text of `dotted_key` (None when the key is absent)."""
    lines = text.split("\n")
    try:
        i, commented = _toml_key_line(lines, dotted_key)
    except KeyError:
        return None
    return None if commented else lines[i].partition("=")[2].strip()


def toml_set(text, dotted_key, value):
    """`text` with the value of `dotted_key` replaced, line-wise, keeping everything else
    (comments included); a commented-out default (`# web_root = ...`) is switched on.
    Raises KeyError when the key is not in its section: a test must not silently configure
    a key the shipped file lacks."""
    lines = text.split("\n")
    i, _ = _toml_key_line(lines, dotted_key)
    key = dotted_key.rpartition(".")[2]
    raw = value if isinstance(value, RawTOML) else toml_literal(value)
    lines[i] = f"{key} = {raw}"
    return "\n".join(lines)


class RawTOML(str):
    """A value written into the config as it is (e.g. an inline table)."""


def shipped_config(port, metrics_port=None, control_socket=None, history_path=None,
                   overrides=None, extra="", **more):
    """The text of the shipped example config (etc/chatd.toml), with only ports, paths and
    the named values substituted: the tests run the file users install.

    Listens on 127.0.0.1:PORT and [::1]:PORT (the origins allowed follow the first port, as
    the file leaves `allowed_origins` at its default); metrics and
    the control socket are off unless given (their defaults are fixed system addresses);
    history goes to the Chatd's own folder unless given. `overrides` (and keyword arguments,
    `limits__rate_messages=5` for "limits.rate_messages") replace values by "section.key";
    a key that is not in the file raises KeyError. `extra` is appended verbatim, for tables
    the file only shows commented out (e.g. [api.keys.NAME]).
    """
    values = {
        "server.listen": [f"127.0.0.1:{port}", f"[::1]:{port}"],
        "metrics.listen": f"127.0.0.1:{metrics_port}" if metrics_port else "",
        "control.socket": str(control_socket) if control_socket else "",
    }
    if history_path is not None:
        values["history.path"] = str(history_path)
    values.update(overrides or {})
    values.update({k.replace("__", "."): v for k, v in more.items()})
    text = SHIPPED_CONFIG.read_text()
    for key, value in values.items():
        text = toml_set(text, key, value)
    return text + ("\n" + extra if extra else "")


@pytest.fixture
def chatd_factory():
    made = []

    def make(config_text, env=None):
        c = Chatd(config_text, env)
        made.append(c)
        return c

    make.made = made  # for tests that start a chatd in another thread
    yield make
    for c in made:
        c.cleanup()


@pytest.fixture
def browser_factory():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def make(lang="en-US", insecure_certs=False):
        """`insecure_certs`: accept a test's self-signed certificate (pages behind nginx)."""
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--lang={lang}", "--window-size=1000,900"):
            options.add_argument(arg)
        if insecure_certs:
            options.add_argument("--ignore-certificate-errors")
            options.accept_insecure_certs = True
        options.add_experimental_option("prefs", {"intl.accept_languages": lang})
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        driver = webdriver.Chrome(service=service, options=options)
        drivers.append(driver)
        return driver

    yield make
    for d in drivers:
        d.quit()


def start_nginx(tmp, site, port):
    """nginx (in the foreground, as a child) with `site` inside its http block, all its
    files under `tmp`; returns once `port` accepts (nginx has no readiness signal)."""
    (tmp / "site.conf").write_text(site)
    (tmp / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    access_log off;
    include {tmp}/site.conf;
}}
""")
    check = subprocess.run(["nginx", "-t", "-c", str(tmp / "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(["nginx", "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
