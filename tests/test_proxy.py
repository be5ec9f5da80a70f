"""wss:// through real nginx with the packaged site config: TLS at nginx, the upgrade passed
on, and the client address taken from X-Forwarded-For only from a trusted proxy."""
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from conftest import BIN, ROOT, chat_config, free_port, start_nginx

SITE = ROOT / "packaging" / "nginx" / "chatd.conf"


def site_config(tmp, tls_port, http_port, chatd_port):
    """The packaged site, moved onto test ports and paths; nginx reaches chatd from 127.0.0.2
    (proxy_bind) so that the proxy and the client have different addresses on one host."""
    site = SITE.read_text()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen [::]:80;", "")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;").replace("listen [::]:443 ssl http2;", "")
    site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{chatd_port};")
    site = site.replace("server_name chat.example.com;", "server_name localhost;")
    site = site.replace("/etc/ssl/certs/ssl-cert-snakeoil.pem", str(tmp / "cert.pem"))
    site = site.replace("/etc/ssl/private/ssl-cert-snakeoil.key", str(tmp / "key.pem"))
    site = site.replace("/var/log/nginx/chatd.access.log", str(tmp / "access.log"))
    return site.replace("proxy_pass http://chatd;", "proxy_pass http://chatd;\n        proxy_bind 127.0.0.2;")


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


def wss(tls_port, cert, extra_headers=None):
    context = ssl.create_default_context(cafile=str(cert))
    return connect(f"wss://localhost:{tls_port}/chat?token=dev-token&name=viaproxy&room=lobby",
                   origin=f"https://localhost:{tls_port}", ssl=context, additional_headers=extra_headers or {},
                   open_timeout=10)


def addresses(control):
    r = subprocess.run([str(BIN / "chatctl"), "connections", "--json", "--socket", str(control)], capture_output=True, text=True)
    return [c["address"] for c in json.loads(r.stdout)["connections"]]


@pytest.mark.parametrize("trusted", [True, False])
def test_wss_through_nginx(chatd_factory, nginx, tmp_path, trusted):
    chatd_port = free_port()
    control = tmp_path / "control.sock"
    config = chat_config(chatd_port).replace(
        'allowed_origins = [', 'allowed_origins = ["https://localhost:TLS", ')
    # The TLS port is known once nginx starts; chatd's origins name it, so start nginx first.
    tls_port = nginx(chatd_port)
    config = config.replace("https://localhost:TLS", f"https://localhost:{tls_port}")
    config += f'\n[control]\nsocket = "{control}"\n[metrics]\nlisten = ""\n'
    if trusted:
        config = config.replace("[server]\n", '[server]\ntrusted_proxies = ["127.0.0.2"]\n', 1)
    chatd_factory(config).start()

    # A client that also sends its own X-Forwarded-For, trying to choose its address.
    with wss(tls_port, tmp_path / "cert.pem", {"X-Forwarded-For": "203.0.113.7"}) as ws:
        events = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
        assert [e["type"] for e in events] == ["system", "history", "presence"]
        ws.send(json.dumps({"type": "message", "text": "over TLS"}))
        while (event := json.loads(ws.recv(timeout=10)))["type"] != "message":
            pass
        assert event["message"]["text"] == "over TLS"
        # Trusted proxy: the client is the rightmost untrusted hop (127.0.0.1, as nginx saw
        # it), never the spoofed 203.0.113.7. Untrusted: the peer (nginx at 127.0.0.2).
        assert addresses(control) == (["127.0.0.1"] if trusted else ["127.0.0.2"])

    # The token never reaches nginx's access log: the site logs the path without its query.
    log = (tmp_path / "access.log").read_text()
    assert "GET /chat HTTP/1.1" in log and "dev-token" not in log

    # The Origin check still applies through the proxy.
    with pytest.raises(Exception) as refused:
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        connect(f"wss://localhost:{tls_port}/chat?token=dev-token", origin="https://evil.example", ssl=context, open_timeout=10)
    assert "403" in str(refused.value)
