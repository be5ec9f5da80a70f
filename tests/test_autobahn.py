"""RFC 6455 conformance: the Autobahn TestSuite fuzzingclient (the Python 3 port in
../shared/tools/autobahn) against chatd's echo endpoint, cases 1–7, 9 and 10: 0 FAILED."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, free_port

AUTOBAHN = Path(os.environ.get("CHATD_AUTOBAHN", ROOT.parent / "shared" / "tools" / "autobahn"))


@pytest.mark.skipif(not (AUTOBAHN / "run.sh").exists(), reason="the Autobahn port (../shared/tools/autobahn) is not here")
def test_autobahn_fuzzingclient_reports_no_failures(chatd_factory, tmp_path):
    setup = subprocess.run([str(AUTOBAHN / "setup.sh")], capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    port = free_port()
    # The echo endpoint sits behind the normal upgrade checks; the suite needs 16 MiB
    # messages, 65536 fragments plus a closing one, and no rate limit (its README).
    chatd_factory(f"""
[server]
listen = "127.0.0.1:{port}"
echo_endpoint = true
[auth]
allowed_origins = ["http://localhost:{port}"]
[limits]
max_frame_bytes = 16777216
max_fragments = 100000
rate_messages = 1000000
upgrades_per_minute_per_ip = 1000000
[control]
socket = ""
[metrics]
listen = ""
""").start()
    run = subprocess.run(
        [str(AUTOBAHN / "run.sh"), f"ws://127.0.0.1:{port}/chat?token=dev-token&name=fuzz&room=autobahn&echo=1",
         "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*", str(tmp_path / "report")],
        env=dict(os.environ, ORIGIN=f"http://localhost:{port}", AGENT="chatd"),
        capture_output=True, text=True, timeout=1500)
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAILED=0 MISSING=0" in run.stdout


def test_echo_endpoint_is_off_by_default(chatd_factory):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    port = free_port()
    chatd_factory(f'[server]\nlisten = "127.0.0.1:{port}"\n[control]\nsocket = ""\n[metrics]\nlisten = ""\n').start()
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&echo=1", origin=f"http://localhost:{port}", open_timeout=10)
    assert refused.value.response.status_code == 404
