"""The article's own smoke client, unchanged, against chatd (with Debian's node-ws)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, chat_config

ARTICLE = ROOT / "tests" / "compat" / "article"
SEED = ROOT.parent / "shared" / "seed"


def test_copies_are_verbatim_from_the_article():
    seeds = list(SEED.glob("*.txt")) if SEED.exists() else []
    if not seeds:
        pytest.skip("the article (../shared/seed) is not beside this checkout")
    article = seeds[0].read_text()
    for name in ("index.html", "smoke-client.mjs"):
        assert (ARTICLE / name).read_text().strip() in article, name


def run_smoke(tmp_path, env):
    work = tmp_path / "smoke"
    if not work.exists():
        (work / "node_modules").mkdir(parents=True)
        (work / "node_modules" / "ws").symlink_to("/usr/share/nodejs/ws")
        shutil.copy(ARTICLE / "smoke-client.mjs", work / "smoke-client.mjs")
    return subprocess.run(["node", "smoke-client.mjs"], cwd=work, env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=30)


def test_article_smoke_client(chatd_factory, tmp_path):
    # The client hard-codes ws://localhost:8080 and Origin http://localhost:8080.
    chatd_factory(chat_config(8080)).start()
    result = run_smoke(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello from smoke test" in result.stdout
    assert "closed 1000" in result.stdout


def test_article_smoke_client_with_its_environment(chatd_factory, tmp_path):
    # The article's CHAT_TOKEN variable configures both sides.
    server = chatd_factory(chat_config(8080), env={"CHAT_TOKEN": "s3cret"}).start()
    assert run_smoke(tmp_path, {"CHAT_TOKEN": "s3cret"}).returncode == 0
    assert run_smoke(tmp_path, {"CHAT_TOKEN": "wrong"}).returncode != 0
    assert server.proc.poll() is None


def test_chatctl_smoke_exit_codes(chatd_factory):
    from conftest import BIN, free_port
    port = free_port()
    chatd_factory(chat_config(port)).start()
    url = f"ws://127.0.0.1:{port}/chat"

    def smoke(*args):
        return subprocess.run([str(BIN / "chatctl"), "smoke", "--url", url, *args], capture_output=True, text=True, timeout=30)

    ok = smoke()
    assert ok.returncode == 0 and "ok" in ok.stdout
    cases = {
        ("--token", "wrong"): "HTTP 401",
        ("--origin", "http://evil.example"): "HTTP 403",
    }
    for args, reason in cases.items():
        r = smoke(*args)
        assert r.returncode == 1 and reason in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([str(BIN / "chatctl"), "smoke", "--url", f"ws://127.0.0.1:{port}/nope"], capture_output=True, text=True)
    assert r.returncode == 1 and "HTTP 404" in r.stderr
    r = subprocess.run([str(BIN / "chatctl"), "smoke", "--url", f"ws://127.0.0.1:{free_port()}/chat"], capture_output=True, text=True)
    assert r.returncode == 1 and "connection refused" in r.stderr


def test_check_config(tmp_path):
    from conftest import BIN
    good = subprocess.run([str(BIN / "chatd"), "--check-config", "--config", str(ROOT / "etc" / "chatd.toml")],
                          capture_output=True, text=True)
    assert good.returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nrate_messages = -5\n")
    r = subprocess.run([str(BIN / "chatd"), "--check-config", "--config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 78
    assert f"{bad}:2: limits.rate_messages: must be at least 1, got -5" in r.stderr
