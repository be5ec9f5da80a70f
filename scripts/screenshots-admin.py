#!/usr/bin/env python3
"""Takes docs/images/admin-en.png and docs/images/admin-zh.png: the admin console (/admin) of a
chatd this script starts (from $CHATD_BIN_DIR, else .build/debug) with a few rooms, people
chatting, a kick, a mute and a delete in the audit log, and a minute of chart samples.

    CHATD_BIN_DIR=/tmp/bin python3 scripts/screenshots-admin.py [--out docs/images]

Needs what the e2e tests need (selenium, websockets, Debian's chromium and chromium-driver).
Re-running it replaces the images; each is checked to stay under 200 KB."""
import argparse
import hashlib
import json
import random
import shutil
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import Chatd, chat_config, free_port  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

# The websockets client's sync connect() outside a `with` warns; these sockets live for the run.
warnings.filterwarnings("ignore", category=DeprecationWarning)

ADMIN_TOKEN = "screenshot-admin-token"
MAX_BYTES = 200 * 1024
# Chart samples are taken every 5 s: this many make a chart worth looking at.
SAMPLES = 12
PEOPLE = {"lobby": ["alice", "bob", "carol", "dave"], "support": ["erin", "frank"], "ops": ["grace", "heidi", "ivan"]}


def api(port, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/admin/{path}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Traffic(threading.Thread):
    """People chatting in three rooms at a varying pace, until stopped."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stopping, self.sockets = port, threading.Event(), {}
        for room, names in PEOPLE.items():
            for name in names:
                ws = connect(f"ws://127.0.0.1:{port}/chat?token=dev-token&name={name}&room={room}",
                             origin=f"http://localhost:{port}", open_timeout=10)
                self.sockets[(room, name)] = ws
        self.reader = threading.Thread(target=self.drain, daemon=True)

    def drain(self):
        # Every socket is read, so that none backs up (chatd would close a slow consumer).
        while not self.stopping.is_set():
            for ws in list(self.sockets.values()):
                try:
                    while True:
                        ws.recv(timeout=0)
                except TimeoutError:
                    pass
                except Exception:  # noqa: BLE001 - a kicked socket
                    continue
            self.stopping.wait(0.05)

    def run(self):
        self.reader.start()
        rng = random.Random(18)
        tick = 0
        while not self.stopping.is_set():
            tick += 1
            burst = 2 + int(3 * (1 + __import__("math").sin(tick / 15)))
            for _ in range(burst):
                (room, name), ws = rng.choice(list(self.sockets.items()))
                try:
                    ws.send(json.dumps({"type": "message", "text": f"{name} says hello #{tick}"}))
                except Exception:  # noqa: BLE001 - a kicked socket
                    self.sockets.pop((room, name), None)
            # Pacing the traffic, not synchronising anything.
            self.stopping.wait(0.4)

    def stop(self):
        self.stopping.set()
        self.join(5)
        for ws in self.sockets.values():
            ws.close()


def browser(lang):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--lang={lang}",
                "--window-size=1180,1000", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def capture(port, lang, path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver = browser(lang)
    try:
        driver.get(f"http://localhost:{port}/admin")
        driver.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rooms tbody tr[data-room]")) >= 3)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-messages polyline"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#audit tbody tr td:nth-child(3)"))
        # Two polls apart, so that every room shows a message rate.
        wait.until(lambda d: all(tr.find_elements(By.TAG_NAME, "td")[3].text not in ("", "–")
                                 for tr in d.find_elements(By.CSS_SELECTOR, "#rooms tbody tr[data-room]")))
        height = driver.execute_script("return document.documentElement.scrollHeight")
        # The whole page in one image: the viewport made as tall as the document.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1180, "height": height, "deviceScaleFactor": 1, "mobile": False})
        driver.save_screenshot(str(path))
    finally:
        driver.quit()
    size = path.stat().st_size
    print(f"wrote {path} ({size // 1024} KB)")
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over {MAX_BYTES}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    credentials = f"""
[auth.credentials.root]
token_sha256 = "{hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()}"
role = "admin"
[limits]
rate_messages = 1000
user_rate_messages = 10000
ip_rate_messages = 10000
[metrics]
listen = ""
"""
    chatd = Chatd(chat_config(port, web_root=str(ROOT / "web"), extra=credentials)).start()
    traffic = None
    try:
        traffic = Traffic(port)
        traffic.start()
        # Moderation for the audit log: a kick, a mute, a delete, a ban lifted.
        connections = api(port, "connections?room=ops")["connections"]
        victim = next(c for c in connections if c["name"] == "ivan")
        api(port, "actions", {"command": "kick", "connection": victim["id"], "reason": "flooding"})
        api(port, "actions", {"command": "mute", "user": "guest:bob", "seconds": 900, "reason": "off-topic"})
        api(port, "actions", {"command": "ban", "user": "guest:mallory", "seconds": 86400, "reason": "spam"})
        api(port, "actions", {"command": "unban", "user": "guest:mallory", "reason": "appeal accepted"})
        seq = api(port, "rooms")["rooms"]
        lobby = next(r for r in seq if r["name"] == "lobby")
        if lobby["lastSeq"] > 0:
            api(port, "actions", {"command": "delete", "room": "lobby", "seq": lobby["lastSeq"], "reason": "personal data"})
        deadline = time.monotonic() + SAMPLES * 5 + 30
        while len(api(port, "series")["samples"]) < SAMPLES:
            if time.monotonic() > deadline:
                raise SystemExit("chatd took no samples")
            time.sleep(1)  # polling the sample count (a 5 s cadence); no event to wait on
        capture(port, "en-US", out / "admin-en.png")
        capture(port, "zh-CN", out / "admin-zh.png")
    finally:
        if traffic:
            traffic.stop()
        chatd.stop()
        chatd.cleanup()


if __name__ == "__main__":
    main()
