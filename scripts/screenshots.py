#!/usr/bin/env python3
"""Takes docs/images/page-en.png and docs/images/page-zh.png: the browser page (web/) served
by a real chatd, two users chatting in headless Chromium (a reply, an edit, reactions, an
unread badge in a room not shown).

    python3 scripts/screenshots.py            # chatd from .build/debug
    CHATD_BIN_DIR=/path/to/bin python3 scripts/screenshots.py

Needs selenium, Debian's chromium and chromium-driver (scripts/install-deps.sh)."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("CHATD_BIN_DIR", ROOT / ".build" / "debug"))
OUT = ROOT / "docs" / "images"

SCRIPT = {
    "en": {
        "hello": "Morning! Is the 2.3 release out?",
        "answer": "Yes, tagged an hour ago. Packages are building now.",
        "typo": "The changelog is on the wiki",
        "fixed": "The changelog is in docs/CHANGES.md",
        "thanks": "Great, I'll tell the support team.",
        "elsewhere": "Design review moved to 15:00",
        "typing": "Thanks",
    },
    "zh": {
        "hello": "早上好!2.3 版本发布了吗?",
        "answer": "发布了,一小时前打的标签,安装包正在构建。",
        "typo": "更新日志在维基上",
        "fixed": "更新日志在 docs/CHANGES.md",
        "thanks": "太好了,我去通知客服团队。",
        "elsewhere": "设计评审改到 15:00",
        "typing": "谢谢",
    },
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chatd(port, workdir):
    config = workdir / "chatd.toml"
    config.write_text(f"""
[server]
listen = ["127.0.0.1:{port}"]
web_root = "{ROOT / 'web'}"
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:{port}"]
[history]
path = "{workdir / 'history.sqlite'}"
[metrics]
listen = ""
""")
    proc = subprocess.Popen([str(BIN / "chatd"), "--config", str(config)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "chatd ready" in line:
            return proc
    raise SystemExit(f"chatd did not start: {proc.wait()}")


def browser(lang):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--lang={lang}", "--window-size=1200,800", "--hide-scrollbars"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def wait(driver, condition, timeout=15):
    return WebDriverWait(driver, timeout).until(condition)


def texts(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log .message > .text")]


def message(driver, text):
    return next(e for e in driver.find_elements(By.CSS_SELECTOR, "#log .message")
                if e.find_element(By.CSS_SELECTOR, ":scope > .text").text == text)


def send(driver, text):
    box = driver.find_element(By.ID, "message")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def open_page(driver, port, name, room="lobby"):
    driver.get(f"http://localhost:{port}/?name={name}&room={room}")
    wait(driver, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "online")


def join(driver, room):
    driver.find_element(By.ID, "join-room").send_keys(room)
    driver.find_element(By.ID, "join").click()
    wait(driver, lambda d: d.find_element(By.ID, "room-title").text == f"#{room}")


def show_room(driver, room):
    def clicked(d):
        # The list is drawn again on every unread change: a button found may be gone by the click.
        try:
            d.find_element(By.CSS_SELECTOR, f'#rooms button.room-button[data-room="{room}"]').click()
            return True
        except StaleElementReferenceException:
            return False
    wait(driver, clicked)
    wait(driver, lambda d: d.find_element(By.ID, "room-title").text == f"#{room}")


def react(driver, text, emoji):
    m = message(driver, text)
    m.find_element(By.CSS_SELECTOR, ".act-react").click()
    m.find_element(By.CSS_SELECTOR, f'.picker button[data-emoji="{emoji}"]').click()


def scene(port, short, lang, words):
    alice, bob = browser(lang), browser(lang)
    try:
        open_page(bob, port, "bob" if short == "en" else "Wei")
        open_page(alice, port, "alice" if short == "en" else "Lin")
        join(alice, "design")
        show_room(alice, "lobby")
        join(bob, "design")
        show_room(bob, "lobby")
        send(alice, words["hello"])
        wait(bob, lambda d: words["hello"] in texts(d))
        message(bob, words["hello"]).find_element(By.CSS_SELECTOR, ".act-reply").click()
        send(bob, words["answer"])
        wait(alice, lambda d: words["answer"] in texts(d))
        send(bob, words["typo"])
        wait(bob, lambda d: words["typo"] in texts(d))
        m = message(bob, words["typo"])
        m.find_element(By.CSS_SELECTOR, ".act-edit").click()
        box = m.find_element(By.CSS_SELECTOR, ".editor textarea")
        box.clear()
        box.send_keys(words["fixed"] + "\n")
        wait(alice, lambda d: words["fixed"] in texts(d))
        react(alice, words["answer"], "🎉")
        react(alice, words["answer"], "👍")
        wait(bob, lambda d: message(d, words["answer"]).find_elements(By.CSS_SELECTOR, ".reaction"))
        react(bob, words["answer"], "👍")
        wait(alice, lambda d: "2" in message(d, words["answer"]).find_element(By.CSS_SELECTOR, ".reaction[data-emoji='👍'] .count").text)
        send(alice, words["thanks"])
        wait(bob, lambda d: words["thanks"] in texts(d))
        show_room(bob, "design")
        send(bob, words["elsewhere"])
        wait(alice, lambda d: d.find_elements(By.CSS_SELECTOR, '#rooms li[data-room="design"] .badge'))
        show_room(bob, "lobby")
        # chatd passes on one `typing` per 2 s: bob goes on typing until alice is told.
        keys = iter(words["typing"] * 20)

        def told(d):
            bob.find_element(By.ID, "message").send_keys(next(keys))
            return d.find_element(By.ID, "typing").text != ""
        wait(alice, told)
        alice.find_element(By.ID, "members-title").click()
        wait(alice, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#member-list li")) == 2)
        alice.find_element(By.ID, "message").click()
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"page-{short}.png"
        alice.save_screenshot(str(path))
        print(f"{path}: {path.stat().st_size} bytes")
    finally:
        alice.quit()
        bob.quit()


def main():
    if not (BIN / "chatd").exists():
        sys.exit(f"no chatd in {BIN}: build it (swift build) or set CHATD_BIN_DIR")
    for lang, words in (("en", SCRIPT["en"]), ("zh", SCRIPT["zh"])):
        work = Path(tempfile.mkdtemp(prefix="chatd-shots-"))
        port = free_port()
        proc = start_chatd(port, work)
        try:
            scene(port, lang, "en-US" if lang == "en" else "zh-CN", words)
        finally:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
