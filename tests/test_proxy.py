"""wss:// through real nginx with the packaged site as shipped (packaging/nginx/chatd.conf, only
ports, certificate and log paths substituted): TLS at nginx, the upgrade passed on over
nginx's kept-alive upstream connections (issue 13, item 1), the client address taken from
X-Forwarded-For only from a trusted proxy, and the token in no nginx log (item 10)."""
import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from websockets.sync.client import connect

from conftest import BIN, ROOT, chat_config, free_port, start_nginx

SITE = ROOT / "packaging" / "nginx" / "chatd.conf"


def site_config(tmp, tls_port, http_port, chatd_port):
    """The packaged site, moved onto test ports (loopback) and test certificate and log paths;
    nothing else changes: no test-only directive, the shipped logging and keepalive."""
    subs = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": f"listen [::1]:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{tls_port} ssl http2;",
        "listen [::]:443 ssl http2;": f"listen [::1]:{tls_port} ssl http2;",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{chatd_port};",
        "/etc/ssl/certs/ssl-cert-snakeoil.pem": str(tmp / "cert.pem"),
        "/etc/ssl/private/ssl-cert-snakeoil.key": str(tmp / "key.pem"),
        "/var/log/nginx/chatd.access.log": str(tmp / "access.log"),
        "/var/log/nginx/chatd.error.log": str(tmp / "chatd.error.log"),
    }
    site = SITE.read_text()
    for old, new in subs.items():
        assert old in site, f"the shipped site no longer has {old!r}: update this test"
        site = site.replace(old, new)
    return site


@pytest.fixture
def nginx(tmp_path):
    procs = []

    def start(chatd_port):
        tls_port, http_port = free_port(), free_port()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost", "-keyout", str(tmp_path / "key.pem"),
                        "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
        procs.append(start_nginx(tmp_path, site_config(tmp_path, tls_port, http_port, chatd_port), tls_port))
        return tls_port

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


@pytest.fixture
def tls_browser():
    """Headless Chromium that accepts the test's self-signed certificate (as conftest's
    browser_factory, plus that)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def make():
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=en-US",
                    "--window-size=1000,900", "--ignore-certificate-errors"):
            options.add_argument(arg)
        options.accept_insecure_certs = True
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        driver = webdriver.Chrome(service=service, options=options)
        drivers.append(driver)
        return driver

    yield make
    for d in drivers:
        d.quit()


def start_behind_nginx(chatd_factory, nginx, tmp_path, trusted=True):
    """chatd on a free port with nginx's origin allowed; returns (tls_port, control socket, chatd)."""
    chatd_port = free_port()
    control = tmp_path / "control.sock"
    # The TLS port is known once nginx starts; chatd's origins name it, so start nginx first.
    tls_port = nginx(chatd_port)
    config = chat_config(chatd_port).replace(
        'allowed_origins = [', f'allowed_origins = ["https://localhost:{tls_port}", ')
    config += f'\n[control]\nsocket = "{control}"\n[metrics]\nlisten = ""\n'
    if trusted:
        # What the site's header asks for: nginx on loopback is a trusted proxy.
        config = config.replace("[server]\n", '[server]\ntrusted_proxies = ["127.0.0.1"]\n', 1)
    server = chatd_factory(config).start()
    return tls_port, control, server


def tls_context(tmp_path):
    return ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))


def wss(tls_port, tmp_path, query="name=viaproxy&room=lobby", token="dev-token", extra_headers=None, **kwargs):
    """A client as chatd ships them: the token as the bearer subprotocol, not in the URL."""
    return connect(f"wss://localhost:{tls_port}/chat?{query}", origin=f"https://localhost:{tls_port}",
                   ssl=tls_context(tmp_path), subprotocols=["chatd", f"bearer.{token}"],
                   additional_headers=extra_headers or {}, open_timeout=10, **kwargs)


def addresses(control):
    r = subprocess.run([str(BIN / "chatctl"), "connections", "--json", "--socket", str(control)], capture_output=True, text=True)
    return [c["address"] for c in json.loads(r.stdout)["connections"]]


def chat_statuses(tmp_path):
    """The status of every /chat request in nginx's access log."""
    log = (tmp_path / "access.log").read_text()
    return [int(m.group(1)) for m in re.finditer(r'"GET /chat HTTP/1\.1" (\d{3}) ', log)]


def settled_chat_statuses(tmp_path, count, timeout=10):
    """The /chat statuses once `count` are logged (nginx logs a WebSocket when it ends)."""
    deadline = time.monotonic() + timeout
    while len(statuses := chat_statuses(tmp_path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return statuses


def recv_until(ws, kind, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event["type"] == kind:
            return event


@pytest.mark.parametrize("trusted", [True, False])
def test_wss_through_nginx(chatd_factory, nginx, tmp_path, trusted):
    tls_port, control, _ = start_behind_nginx(chatd_factory, nginx, tmp_path, trusted)

    # A client at 127.0.0.3 that also sends its own X-Forwarded-For, trying to choose its
    # address; nginx reaches chatd from 127.0.0.1.
    with wss(tls_port, tmp_path, extra_headers={"X-Forwarded-For": "203.0.113.7"},
             source_address=("127.0.0.3", 0)) as ws:
        assert ws.subprotocol == "chatd"
        events = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
        assert [e["type"] for e in events] == ["system", "history", "presence"]
        ws.send(json.dumps({"type": "message", "text": "over TLS"}))
        assert recv_until(ws, "message")["message"]["text"] == "over TLS"
        # Trusted proxy: the client is the rightmost untrusted hop (127.0.0.3, as nginx saw
        # it), never the spoofed 203.0.113.7. Untrusted: the peer (nginx at 127.0.0.1).
        assert addresses(control) == (["127.0.0.3"] if trusted else ["127.0.0.1"])

    # The Origin check still applies through the proxy.
    with pytest.raises(Exception) as refused:
        connect(f"wss://localhost:{tls_port}/chat", origin="https://evil.example", ssl=tls_context(tmp_path),
                subprotocols=["chatd", "bearer.dev-token"], open_timeout=10)
    assert "403" in str(refused.value)


def fetch_page(tls_port, tmp_path):
    """What a browser does first: the page, its script and its style on one kept-alive
    connection to nginx (which passes them on over its own kept-alive connections to chatd)."""
    conn = http.client.HTTPSConnection("localhost", tls_port, context=tls_context(tmp_path), timeout=10)
    try:
        for path in ("/", "/app.js", "/style.css"):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, (path, response.status)
    finally:
        conn.close()


def test_a_scripted_client_loads_the_page_then_upgrades_ten_times(chatd_factory, nginx, tmp_path):
    tls_port, _, _ = start_behind_nginx(chatd_factory, nginx, tmp_path)
    failures = []
    for i in range(10):
        fetch_page(tls_port, tmp_path)
        try:
            with wss(tls_port, tmp_path, query=f"name=scripted{i}&room=lobby") as ws:
                recv_until(ws, "presence")
        except Exception as e:  # noqa: BLE001 - counted and reported
            failures.append(f"{i}: {e}")
    assert failures == []
    statuses = settled_chat_statuses(tmp_path, 10)
    assert statuses == [101] * 10, statuses


def status(driver):
    return driver.find_element(By.ID, "status").get_attribute("data-state")


def texts(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log .message .text")]


def wait_for(driver, condition, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, timeout).until(condition)


def test_the_page_through_the_shipped_site_is_online_at_every_load(chatd_factory, nginx, tmp_path, tls_browser):
    tls_port, _, _ = start_behind_nginx(chatd_factory, nginx, tmp_path)
    page = f"https://localhost:{tls_port}/?room=lobby&name="
    alice = tls_browser()
    for i in range(6):
        alice.get(page + "alice")
        wait_for(alice, lambda d: status(d) == "online")
    # Every upgrade was accepted the first time: no 400 and no retry behind the "online"
    # (each load ended the previous page's WebSocket, which nginx then logged).
    statuses = settled_chat_statuses(tmp_path, 5)
    assert statuses == [101] * 5, statuses

    bob = tls_browser()
    bob.get(page + "bob")
    wait_for(bob, lambda d: status(d) == "online")
    box = alice.find_element(By.ID, "message")
    box.send_keys("hello over wss")
    alice.find_element(By.ID, "send").click()
    wait_for(bob, lambda d: "hello over wss" in texts(d))
    box = bob.find_element(By.ID, "message")
    box.send_keys("hi back")
    bob.find_element(By.ID, "send").click()
    wait_for(alice, lambda d: "hi back" in texts(d))
    # Chromium offers permessage-deflate through nginx and chatd accepts it (issue 15): what
    # a page's WebSocket reports, and a message long enough to go compressed both ways.
    extensions = alice.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const ws = new WebSocket(`wss://${location.host}/chat?room=probe&name=probe`, ["chatd", "bearer.dev-token"]);
        ws.onopen = () => { done(ws.extensions); ws.close(); };
        ws.onerror = () => done("error");
    """)
    assert extensions == "permessage-deflate; server_no_context_takeover; client_no_context_takeover", extensions
    long_text = "compressed both ways " + "la-" * 120
    box = bob.find_element(By.ID, "message")
    box.send_keys(long_text)
    bob.find_element(By.ID, "send").click()
    wait_for(alice, lambda d: long_text in texts(d))
    alice.quit()
    bob.quit()
    statuses = settled_chat_statuses(tmp_path, 8)
    assert statuses == [101] * 8, statuses


def test_the_token_reaches_no_nginx_log(chatd_factory, nginx, tmp_path):
    tls_port, _, server = start_behind_nginx(chatd_factory, nginx, tmp_path)
    # The page and chatctl send it as a subprotocol; the article's page puts it in the query.
    with wss(tls_port, tmp_path):
        pass
    with connect(f"wss://localhost:{tls_port}/chat?token=dev-token&name=article", origin=f"https://localhost:{tls_port}",
                 ssl=tls_context(tmp_path), open_timeout=10):
        pass
    # chatd gone: nginx logs an error for each /chat it cannot pass on, with the request line.
    server.stop()
    for attempt in ("query-secret-1", "query-secret-2"):
        with pytest.raises(Exception) as failed:
            connect(f"wss://localhost:{tls_port}/chat?token={attempt}", origin=f"https://localhost:{tls_port}",
                    ssl=tls_context(tmp_path), open_timeout=10)
        assert "502" in str(failed.value)
    with pytest.raises(Exception):
        wss(tls_port, tmp_path, token="subprotocol-secret")
    # A failed page load is logged as nginx logs it (the site's /chat rule is the only change).
    conn = http.client.HTTPSConnection("localhost", tls_port, context=tls_context(tmp_path), timeout=10)
    conn.request("GET", "/app.js")
    assert conn.getresponse().status == 502
    conn.close()

    access = (tmp_path / "access.log").read_text()
    errors = "".join(p.read_text() for p in tmp_path.glob("*.log") if p.name != "access.log")
    assert "GET /chat HTTP/1.1" in access and '"GET /chat HTTP/1.1" 502' in access
    for secret in ("dev-token", "query-secret", "subprotocol-secret", "token="):
        assert secret not in access, secret
        assert secret not in errors, secret
    # The error log itself works: the failed page load is in it.
    assert "GET /app.js" in errors
