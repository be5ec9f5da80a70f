"""docs/openapi.yaml against a running chatd: the document chatd serves is the repository's,
and schemathesis (property-based, from the document alone) finds no 5xx and no answer that
the document does not describe — status, content type, body schema and required headers."""
import hashlib
import http.client
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import free_port

KEY = "openapi-key-0123456789"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(chatd_factory):
    port = free_port()
    chatd = chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}"]
[api.keys.feeder]
key_sha256 = "{hashlib.sha256(KEY.encode()).hexdigest()}"
# Every room has a rule, so that a publish reaches the store rather than a 404 for an
# unknown room.
[rooms.rules."*"]
max_members = 0
[metrics]
listen = ""
""").start()
    return port, chatd


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_the_served_document_is_the_repositorys(server):
    port, _ = server
    response, body = get(port, "/api/openapi.yaml")
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/yaml; charset=utf-8"
    assert body == (ROOT / "docs/openapi.yaml").read_bytes()


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(server, tmp_path):
    port, chatd = server
    st = shutil.which("schemathesis") or shutil.which("st")
    assert st, "schemathesis is installed by scripts/install-deps.sh test (tests/requirements.txt)"
    # The checks the issue names, plus those that send what the document forbids or leave
    # out what it requires (they must be refused with a 4xx). Not positive_data_acceptance:
    # a GET of /chat that the document allows is still no WebSocket handshake (426).
    checks = ",".join([
        "not_a_server_error", "status_code_conformance", "content_type_conformance",
        "response_schema_conformance", "response_headers_conformance",
        "negative_data_rejection", "missing_required_header", "unsupported_method", "ignored_auth",
    ])
    run = subprocess.run(
        [st, "run", f"http://127.0.0.1:{port}/api/openapi.yaml", "--checks", checks,
         "--header", f"Authorization: Bearer {KEY}", "--max-examples", "100", "--seed", "20261204",
         "--workers", "1", "--report", "ndjson", "--report-dir", str(tmp_path),
         "--request-timeout", "10"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # Every operation was exercised (the document's five, less its own URL, which
    # schemathesis leaves out), and chatd is still up and answering.
    events = [json.loads(line) for line in next(tmp_path.glob("*.ndjson")).read_text().splitlines() if line]
    labels = {label for event in events for label in _labels(event)}
    assert {"POST /api/publish", "GET /healthz", "GET /readyz", "GET /chat"} <= labels, labels
    response, body = get(port, "/healthz")
    assert response.status == 200 and json.loads(body)["ok"] is True
    assert chatd.proc.poll() is None


def _labels(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "label" and isinstance(item, str):
                yield item
            else:
                yield from _labels(item)
    elif isinstance(value, list):
        for item in value:
            yield from _labels(item)


ADMIN_TOKEN = "openapi-admin-token-0123"


def test_schemathesis_as_an_admin_finds_every_admin_answer_documented(chatd_factory, tmp_path):
    """The admin API with a valid admin token, so that its 200 answers (and the actions'
    refusals by the control dispatcher) are checked against the document too."""
    port = free_port()
    chatd = chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}"]
[auth.credentials.root]
token_sha256 = "{hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()}"
role = "admin"
[metrics]
listen = ""
""").start()
    st = shutil.which("schemathesis") or shutil.which("st")
    assert st
    checks = ",".join([
        "not_a_server_error", "status_code_conformance", "content_type_conformance",
        "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
        "unsupported_method",
    ])
    run = subprocess.run(
        [st, "run", f"http://127.0.0.1:{port}/api/openapi.yaml", "--include-path-regex", "^/api/admin/",
         "--checks", checks, "--header", f"Authorization: Bearer {ADMIN_TOKEN}", "--max-examples", "60",
         "--seed", "20261204", "--workers", "1", "--report", "ndjson", "--report-dir", str(tmp_path),
         "--request-timeout", "10"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    events = [json.loads(line) for line in next(tmp_path.glob("*.ndjson")).read_text().splitlines() if line]
    labels = {label for event in events for label in _labels(event)}
    assert {f"GET /api/admin/{name}" for name in ("status", "rooms", "connections", "audit", "webhooks", "series")} \
        | {"POST /api/admin/actions"} <= labels, labels
    response, body = get(port, "/healthz")
    assert response.status == 200
    assert chatd.proc.poll() is None
