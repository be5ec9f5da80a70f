"""The browser page in headless Chromium against a real chatd (issue: chat core, point 9)."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, chat_config, free_port

XSS = "<img src=x onerror=alert(1)>"


def wait(driver, timeout=15):
    return WebDriverWait(driver, timeout)


def status(driver):
    return driver.find_element(By.ID, "status").get_attribute("data-state")


def send(driver, text):
    box = driver.find_element(By.ID, "message")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def texts(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log .message .text")]


def open_page(driver, port, name):
    driver.get(f"http://localhost:{port}/?name={name}&room=lobby")
    wait(driver).until(lambda d: status(d) == "online")


def test_two_windows_chat_survive_a_restart_and_render_text(chatd_factory, browser_factory):
    port = free_port()
    server = chatd_factory(chat_config(port)).start()
    alice, bob = browser_factory(), browser_factory()
    open_page(alice, port, "alice")
    open_page(bob, port, "bob")

    send(alice, "hello bob")
    wait(bob).until(lambda d: "hello bob" in texts(d))
    send(bob, "hi alice")
    wait(alice).until(lambda d: "hi alice" in texts(d))
    wait(alice).until(lambda d: "2" in d.find_element(By.ID, "online").text)

    # A message that is HTML is shown as text, never parsed.
    send(alice, XSS)
    wait(bob).until(lambda d: XSS in texts(d))
    assert bob.find_elements(By.CSS_SELECTOR, "#log img") == []
    assert not EC.alert_is_present()(bob)

    # chatd restarts: both pages notice, back off, and reconnect by themselves.
    assert server.stop() == 0
    wait(alice).until(lambda d: status(d) == "waiting")
    wait(bob).until(lambda d: status(d) == "waiting")
    # Typed while offline: queued and sent on reconnect.
    send(alice, "sent while offline")
    server.start()
    wait(alice, 30).until(lambda d: status(d) == "online")
    wait(bob, 30).until(lambda d: status(d) == "online")
    wait(bob, 30).until(lambda d: "sent while offline" in texts(d))
    send(bob, "after restart")
    wait(alice).until(lambda d: "after restart" in texts(d))
    # History survived the restart, and the reconnects resumed from the last message seen:
    # nothing was lost and nothing was shown twice.
    for page in (alice, bob):
        shown = texts(page)
        for text in ("hello bob", "hi alice", XSS, "sent while offline", "after restart"):
            assert shown.count(text) == 1, (text, shown)
    # A fresh page gets the stored history after the restart.
    carol = browser_factory()
    open_page(carol, port, "carol")
    wait(carol).until(lambda d: "after restart" in texts(d))
    assert texts(carol)[:3] == ["hello bob", "hi alice", XSS]


def test_labels_follow_the_browser_language(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(chat_config(port)).start()
    zh = browser_factory(lang="zh-CN")
    zh.get(f"http://localhost:{port}/")
    wait(zh).until(lambda d: status(d) == "online")
    assert zh.find_element(By.ID, "send").text == "发送"
    assert zh.find_element(By.ID, "status").text == "在线"
    en = browser_factory(lang="en-US")
    en.get(f"http://localhost:{port}/")
    wait(en).until(lambda d: status(d) == "online")
    assert en.find_element(By.ID, "send").text == "Send"


def test_wrong_token_does_not_connect(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(chat_config(port)).start()
    d = browser_factory()
    d.get(f"http://localhost:{port}/?token=wrong")
    wait(d).until(lambda d: status(d) == "waiting")
    assert d.execute_script("return document.querySelectorAll('#log .message').length") == 0


def test_the_articles_page_works_unchanged(chatd_factory, browser_factory):
    port = free_port()
    page = ROOT / "tests" / "compat" / "article"
    chatd_factory(chat_config(port, web_root=page)).start()
    d = browser_factory()
    d.get(f"http://localhost:{port}/")
    # The article's page connects on load and shows "在线" when open.
    wait(d).until(lambda d: d.find_element(By.ID, "status").text == "在线")
    d.find_element(By.ID, "message").send_keys("from the article page")
    d.find_element(By.CSS_SELECTOR, "#form button[type=submit]").click()
    wait(d).until(lambda d: "masa: from the article page" in d.find_element(By.ID, "log").text)
    # Its inline script ran under chatd's CSP (hash-allowed) and hit no CSP error.
    errors = [e for e in d.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert errors == []
