"""The browser page on chatd.js (issue 18, item 2), in headless Chromium against a real chatd:
replies, edits, reactions, deletes, typing, unread badges, older history, moderators, the
Chinese page and a phone-width window. The page is web/ as shipped, served by chatd (and, for
the two-user chat, through the shipped nginx site)."""
import json
import time
import re

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import chat_config, chatctl, free_port
from test_proxy import nginx, start_behind_nginx  # noqa: F401 - nginx is a fixture
from wsclient import open_ws, until


def config(port, extra=""):
    """chat_config without the metrics listener (its fixed default port may be taken)."""
    return chat_config(port, extra='[metrics]\nlisten = ""\n' + extra)


def wait(driver, condition, timeout=15):
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def status(driver):
    return driver.find_element(By.ID, "status").get_attribute("data-state")


def open_page(driver, base, name, room="lobby", token=None):
    driver.get(f"{base}/?name={name}&room={room}" + (f"&token={token}" if token else ""))
    wait(driver, lambda d: status(d) == "online")
    wait(driver, lambda d: d.find_element(By.ID, "room-title").text == f"#{room}")


def texts(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log .message > .text")]


def message(driver, text):
    """The shown message whose text is `text` (None when there is none)."""
    for e in driver.find_elements(By.CSS_SELECTOR, "#log .message"):
        if e.find_element(By.CSS_SELECTOR, ":scope > .text").text == text:
            return e
    return None


def send(driver, text):
    box = driver.find_element(By.ID, "message")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def badge(driver, room):
    found = driver.find_elements(By.CSS_SELECTOR, f'#rooms li[data-room="{room}"] .badge')
    return found[0].text if found else ""


def show_room(driver, room):
    driver.find_element(By.CSS_SELECTOR, f'#rooms button.room-button[data-room="{room}"]').click()
    wait(driver, lambda d: d.find_element(By.ID, "room-title").text == f"#{room}")


def join(driver, room):
    driver.find_element(By.ID, "join-room").send_keys(room)
    driver.find_element(By.ID, "join").click()
    wait(driver, lambda d: d.find_element(By.ID, "room-title").text == f"#{room}")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'#rooms li[data-room="{room}"] button.leave'))


def reaction(driver, text, emoji):
    """(count, pressed) of `emoji` under the message `text`, or None."""
    m = message(driver, text)
    chips = m.find_elements(By.CSS_SELECTOR, f'.reaction[data-emoji="{emoji}"]') if m else []
    if not chips:
        return None
    return chips[0].find_element(By.CSS_SELECTOR, ".count").text, chips[0].get_attribute("aria-pressed")


def pick(driver, text, emoji):
    m = message(driver, text)
    m.find_element(By.CSS_SELECTOR, ".act-react").click()
    m.find_element(By.CSS_SELECTOR, f'.picker button[data-emoji="{emoji}"]').click()


def test_two_users_reply_edit_react_delete_and_type_through_nginx(chatd_factory, nginx, tmp_path, browser_factory):
    tls_port, _, _ = start_behind_nginx(chatd_factory, nginx, tmp_path)
    base = f"https://localhost:{tls_port}"
    alice, bob = browser_factory(insecure_certs=True), browser_factory(insecure_certs=True)
    open_page(alice, base, "alice")
    open_page(bob, base, "bob")
    # Both are counted online and listed (chatd's `members`), with a third tab of bob's.
    wait(alice, lambda d: d.find_element(By.ID, "online").text == "2 online")
    members = lambda d: [e.get_attribute("textContent") for e in d.find_elements(By.CSS_SELECTOR, "#member-list li")]  # noqa: E731
    wait(alice, lambda d: members(d) == ["alice", "bob"])
    assert alice.find_element(By.ID, "members-title").get_attribute("textContent") == "In this room"
    bob2 = browser_factory(insecure_certs=True)
    open_page(bob2, base, "bob")
    wait(alice, lambda d: members(d) == ["alice", "bob (2 connections)"])
    wait(alice, lambda d: d.find_element(By.ID, "online").text == "3 online")
    bob2.quit()
    wait(alice, lambda d: members(d) == ["alice", "bob"])

    # Typing reaches the other, not oneself.
    alice.find_element(By.ID, "message").send_keys("hel")
    wait(bob, lambda d: d.find_element(By.ID, "typing").text == "alice is typing…")
    assert alice.find_element(By.ID, "typing").text == ""
    send(alice, "hello bob, lunch at noon?")
    wait(bob, lambda d: "hello bob, lunch at noon?" in texts(d))
    # A message ends the sender's typing indicator.
    wait(bob, lambda d: d.find_element(By.ID, "typing").text == "")

    # bob replies: the reply quotes alice's message.
    message(bob, "hello bob, lunch at noon?").find_element(By.CSS_SELECTOR, ".act-reply").click()
    assert "alice" in bob.find_element(By.ID, "replying-text").text
    send(bob, "yes, see you there")
    wait(alice, lambda d: "yes, see you there" in texts(d))
    # New messages of others are announced to screen readers, as text.
    assert alice.find_element(By.ID, "announcer").get_attribute("aria-live") == "polite"
    assert alice.find_element(By.ID, "announcer").get_attribute("textContent") == "bob: yes, see you there"
    for page in (alice, bob):
        quote = wait(page, lambda d: message(d, "yes, see you there").find_element(By.CSS_SELECTOR, ".quote"))
        assert quote.find_element(By.CSS_SELECTOR, ".quote-from").text == "alice"
        assert quote.find_element(By.CSS_SELECTOR, ".quote-text").text == "hello bob, lunch at noon?"
    assert bob.find_element(By.ID, "replying").is_displayed() is False

    # alice edits her message: bob sees the new text, marked edited, and the quote follows.
    # Another's message offers no edit or delete to a user without moderator tools.
    assert not message(alice, "yes, see you there").find_element(By.CSS_SELECTOR, ".act-edit").is_displayed()
    mine = message(alice, "hello bob, lunch at noon?")
    mine.find_element(By.CSS_SELECTOR, ".act-edit").click()
    box = mine.find_element(By.CSS_SELECTOR, ".editor textarea")
    box.clear()
    box.send_keys("hello bob, lunch at one?" + Keys.ENTER)
    wait(bob, lambda d: "hello bob, lunch at one?" in texts(d))
    assert "hello bob, lunch at noon?" not in texts(bob)
    assert message(bob, "hello bob, lunch at one?").find_element(By.CSS_SELECTOR, ".edited").is_displayed()
    wait(bob, lambda d: message(d, "yes, see you there").find_element(By.CSS_SELECTOR, ".quote-text").text
         == "hello bob, lunch at one?")

    # Reactions: counts for everyone, one's own highlighted (aria-pressed) only for oneself.
    pick(bob, "hello bob, lunch at one?", "👍")
    wait(alice, lambda d: reaction(d, "hello bob, lunch at one?", "👍") == ("1", "false"))
    wait(bob, lambda d: reaction(d, "hello bob, lunch at one?", "👍") == ("1", "true"))
    pick(alice, "hello bob, lunch at one?", "👍")
    wait(alice, lambda d: reaction(d, "hello bob, lunch at one?", "👍") == ("2", "true"))
    wait(bob, lambda d: reaction(d, "hello bob, lunch at one?", "👍") == ("2", "true"))
    # Clicking one's own reaction takes it back.
    message(bob, "hello bob, lunch at one?").find_element(By.CSS_SELECTOR, '.reaction[data-emoji="👍"]').click()
    wait(alice, lambda d: reaction(d, "hello bob, lunch at one?", "👍") == ("1", "true"))
    wait(bob, lambda d: reaction(d, "hello bob, lunch at one?", "👍") == ("1", "false"))
    # One's own reactions stay highlighted after a reload (chatd's `mine`).
    alice.refresh()
    wait(alice, lambda d: reaction(d, "hello bob, lunch at one?", "👍") == ("1", "true"))

    # The emoji menu is a keyboard menu: Escape closes it and gives focus back to its button.
    button = message(alice, "yes, see you there").find_element(By.CSS_SELECTOR, ".act-react")
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    focused = alice.switch_to.active_element
    assert focused.get_attribute("role") == "menuitem"
    focused.send_keys(Keys.ARROW_RIGHT)
    assert alice.switch_to.active_element.get_attribute("data-emoji") == "❤️"
    alice.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert alice.find_elements(By.CSS_SELECTOR, ".picker") == []
    assert alice.switch_to.active_element == button
    assert button.get_attribute("aria-expanded") == "false"

    # alice deletes her message (asked twice): gone for both, the reply's quote says so.
    delete = message(alice, "hello bob, lunch at one?").find_element(By.CSS_SELECTOR, ".act-delete")
    delete.click()
    assert "hello bob, lunch at one?" in texts(bob)
    delete.click()
    wait(bob, lambda d: "hello bob, lunch at one?" not in texts(d))
    wait(alice, lambda d: "hello bob, lunch at one?" not in texts(d))
    # The focus, on the Delete button that went with the message, is now on the log.
    assert alice.switch_to.active_element == alice.find_element(By.ID, "log")
    wait(bob, lambda d: message(d, "yes, see you there").find_element(By.CSS_SELECTOR, ".quote").text == "deleted message")
    # Nothing went wrong on the way: no script error, no CSP refusal, no failed load.
    for page in (alice, bob):
        assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []


def test_unread_badge_in_a_room_not_shown_clears_when_opened(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(config(port)).start()
    base = f"http://localhost:{port}"
    alice, bob = browser_factory(), browser_factory()
    open_page(alice, base, "alice")
    join(alice, "side")
    show_room(alice, "lobby")
    open_page(bob, base, "bob", room="side")
    send(bob, "one in side")
    send(bob, "two in side")
    wait(alice, lambda d: badge(d, "side") == "2")
    assert badge(alice, "lobby") == ""
    assert alice.title == "(2) chatd"
    label = alice.find_element(By.CSS_SELECTOR, '#rooms button.room-button[data-room="side"]').get_attribute("aria-label")
    assert label == "#side, 2 unread"
    # Messages of the room shown are read as they are shown: no badge.
    open_page(bob, base, "bob", room="lobby")
    send(bob, "in the lobby")
    wait(alice, lambda d: "in the lobby" in texts(d))
    assert badge(alice, "lobby") == ""

    show_room(alice, "side")
    assert texts(alice) == ["one in side", "two in side"]
    wait(alice, lambda d: badge(d, "side") == "")
    assert alice.title == "chatd"
    # The read position was stored by chatd: a reload (the page keeps its rooms) shows
    # nothing unread in side, and a message sent meanwhile is counted.
    show_room(alice, "lobby")
    alice.get(f"{base}/?name=alice&room=lobby")
    wait(alice, lambda d: status(d) == "online")
    wait(alice, lambda d: d.find_elements(By.CSS_SELECTOR, '#rooms li[data-room="side"] button.leave'))
    with open_ws(port, "token=dev-token&name=carol&room=side") as carol:
        until(carol, "history")
        carol.send(json.dumps({"type": "message", "text": "from carol"}))
        until(carol, "message")
    wait(alice, lambda d: badge(d, "side") == "1")
    # Leaving takes the room off the list, also for the next load.
    alice.find_element(By.CSS_SELECTOR, '#rooms li[data-room="side"] button.leave').click()
    wait(alice, lambda d: not d.find_elements(By.CSS_SELECTOR, '#rooms li[data-room="side"]'))
    assert alice.switch_to.active_element.get_attribute("data-room") == "lobby"
    alice.refresh()
    wait(alice, lambda d: status(d) == "online")
    wait(alice, lambda d: d.find_elements(By.CSS_SELECTOR, '#rooms li[data-room="lobby"] button.leave'))
    assert not alice.find_elements(By.CSS_SELECTOR, '#rooms li[data-room="side"] button.leave')


def test_older_history_loads_on_scroll_to_the_top(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(config(port, extra="[limits]\nrate_messages = 500\nuser_rate_messages = 500\n")).start()
    with open_ws(port, "token=dev-token&name=writer&room=lobby") as ws:
        until(ws, "history")
        for i in range(1, 71):
            ws.send(json.dumps({"type": "message", "text": f"m{i}"}))
        while until(ws, "message")["message"]["text"] != "m70":
            pass
        # A reply to a message older than the window: the page fetches it for the quote.
        ws.send(json.dumps({"type": "message", "text": "re m1", "replyTo": 1}))
        until(ws, "message")
    d = browser_factory()
    open_page(d, f"http://localhost:{port}", "reader")
    wait(d, lambda d: "re m1" in texts(d))
    assert "m1" not in texts(d)
    wait(d, lambda d: message(d, "re m1").find_element(By.CSS_SELECTOR, ".quote-text").text == "m1")
    assert "m1" not in texts(d)
    first = len(texts(d))
    assert first < 70
    d.execute_script("document.getElementById('log').scrollTop = 0")
    wait(d, lambda d: texts(d)[:1] == ["m1"])
    assert texts(d) == [f"m{i}" for i in range(1, 71)] + ["re m1"]
    # The start is reached and said; the scroll stayed where the reader was (not at the top).
    wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "#log .older").text == "This is the start of the room.")
    assert d.execute_script("return document.getElementById('log').scrollTop") > 0


def test_chinese_page_labels_presence_and_times(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(config(port)).start()
    base = f"http://localhost:{port}"
    zh = browser_factory(lang="zh-CN")
    open_page(zh, base, "lin")
    assert zh.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert zh.find_element(By.ID, "send").text == "发送"
    assert zh.find_element(By.ID, "status").text == "在线"
    assert zh.find_element(By.ID, "rooms-title").text == "房间"
    assert zh.find_element(By.ID, "message").get_attribute("placeholder") == "输入消息"
    # chatd's English texts are shown in Chinese.
    log = lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, "#log .line")]  # noqa: E731
    wait(zh, lambda d: "已连接,名称为 lin" in log(d))
    en = browser_factory()
    open_page(en, base, "wei")
    wait(zh, lambda d: "wei 加入了" in log(d))
    wait(zh, lambda d: d.find_element(By.ID, "online").text == "2 人在线")
    assert "wei joined" in log(en)
    send(en, "你好")
    wait(zh, lambda d: "你好" in texts(d))
    # Times in the reader's locale: 24-hour for zh-CN, with AM/PM for en-US.
    assert re.fullmatch(r"\d{2}:\d{2}", message(zh, "你好").find_element(By.CSS_SELECTOR, "time").text)
    assert re.fullmatch(r"\d{2}:\d{2} [AP]M", message(en, "你好").find_element(By.CSS_SELECTOR, "time").text)
    en.quit()
    wait(zh, lambda d: "wei 离开了" in log(d))
    # A big room's gathered presence text, and one the page does not know (shown as sent).
    said = zh.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import("/i18n.js").then((m) => done([
            m.presenceText("ann, bob, cy and 7 others joined; dee and eve left"),
            m.presenceText("masa joined"), m.presenceText("the room was renamed")]));
    """)
    assert said == ["ann、bob、cy 等另外 7 人加入了;dee 和 eve 离开了", "masa 加入了", "the room was renamed"]
    assert zh.find_element(By.CSS_SELECTOR, ".act-reply").text == "回复"


def test_phone_width_has_no_horizontal_scroll(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(config(port)).start()
    d = browser_factory()
    d.set_window_size(360, 740)
    base = f"http://localhost:{port}"
    open_page(d, base, "phone")
    join(d, "a-room-with-a-long-name")
    join(d, "another-room")
    send(d, "x" * 300)
    wait(d, lambda d: "x" * 300 in texts(d))
    message(d, "x" * 300).find_element(By.CSS_SELECTOR, ".act-react").click()
    assert d.execute_script("return window.innerWidth") <= 360
    overflow = d.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth, document.body.scrollWidth]")
    assert overflow[0] <= overflow[1] and overflow[2] <= overflow[1], overflow
    # Everything needed to chat is on screen and usable.
    for id_ in ("message", "send", "log", "rooms"):
        assert d.find_element(By.ID, id_).is_displayed(), id_
    # The composer is on screen without scrolling: the settings fold away on a phone.
    height = d.execute_script("return window.innerHeight")
    for id_ in ("message", "send"):
        rect = d.find_element(By.ID, id_).rect
        assert rect["x"] + rect["width"] <= 360 and rect["y"] + rect["height"] <= height, (id_, rect)
    assert d.find_element(By.ID, "settings-panel").get_attribute("open") is None


def test_a_moderator_deletes_anothers_message_a_user_is_told_no(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(config(port).replace('tokens = ["dev-token"]',
                                                      'tokens = ["dev-token"]\nmoderator_tokens = ["mod-token"]')).start()
    base = f"http://localhost:{port}"
    alice, mod, eve = browser_factory(), browser_factory(), browser_factory()
    open_page(alice, base, "alice")
    send(alice, "a message to moderate")
    open_page(mod, base, "mod", token="mod-token")
    open_page(eve, base, "eve")
    for page in (mod, eve):
        wait(page, lambda d: "a message to moderate" in texts(d))
        # chatd's welcome says the role: no switch to find, the tools follow it.
        assert not page.find_element(By.ID, "mod-tools").is_displayed()
    # The moderator is offered delete and edit on another's message; a user is not.
    assert message(mod, "a message to moderate").find_element(By.CSS_SELECTOR, ".act-delete").is_displayed()
    assert not message(eve, "a message to moderate").find_element(By.CSS_SELECTOR, ".act-delete").is_displayed()
    assert not message(eve, "a message to moderate").find_element(By.CSS_SELECTOR, ".act-edit").is_displayed()

    # A user's page forced to offer them anyway is refused by chatd, and told so in words.
    eve.execute_script("document.body.classList.add('mod')")
    delete = message(eve, "a message to moderate").find_element(By.CSS_SELECTOR, ".act-delete")
    delete.click()
    delete.click()
    wait(eve, lambda d: any("only the author" in e.text for e in d.find_elements(By.CSS_SELECTOR, "#log .line.error")))
    assert "only the author" in eve.find_element(By.ID, "alerts").get_attribute("textContent")
    assert "a message to moderate" in texts(alice)

    # The moderator edits alice's message, then deletes it.
    m = message(mod, "a message to moderate")
    m.find_element(By.CSS_SELECTOR, ".act-edit").click()
    box = m.find_element(By.CSS_SELECTOR, ".editor textarea")
    box.clear()
    box.send_keys("a message to moderate (moderated)" + Keys.ENTER)
    wait(alice, lambda d: "a message to moderate (moderated)" in texts(d))
    delete = message(mod, "a message to moderate (moderated)").find_element(By.CSS_SELECTOR, ".act-delete")
    delete.click()
    delete.click()
    for page in (alice, mod, eve):
        wait(page, lambda d: texts(d) == [])


def test_status_counts_down_while_waiting_and_says_why_it_closed(chatd_factory, browser_factory, tmp_path):
    port = free_port()
    control = tmp_path / "control.sock"
    server = chatd_factory(config(port, extra=f'[control]\nsocket = "{control}"\n')).start()
    d = browser_factory()
    open_page(d, f"http://localhost:{port}", "alice")
    assert d.find_element(By.ID, "status").text == "online"
    assert server.stop() == 0
    # Backing off, the status counts the seconds to the next attempt. Text and state are read
    # together: a short (jittered) wait can end between two separate reads.
    seen = []
    wait(d, lambda d: seen.append(d.execute_script(
        "const s = document.getElementById('status'); return [s.textContent.trim(), s.dataset.state];"))
        or re.fullmatch(r"reconnecting in \d+ s", seen[-1][0]), timeout=30)
    assert seen[-1][1] == "waiting", seen[-1]
    server.start()
    wait(d, lambda d: status(d) == "online", timeout=30)
    conns = json.loads(chatctl("connections", "--json", socket_path=control).stdout)["connections"]
    kicked = chatctl("kick", next(c["id"] for c in conns if c["name"] == "alice"), "--reason", "be nice",
                     socket_path=control)
    assert kicked.returncode == 0, kicked.stderr
    # A kick (1008) is final: the page says so, with chatd's reason, and does not come back.
    wait(d, lambda d: d.find_element(By.ID, "status").text == "closed: be nice")
    assert status(d) == "offline"
    # Connect starts again.
    d.find_element(By.ID, "connect").click()
    wait(d, lambda d: status(d) == "online")


def test_a_message_typed_offline_survives_leaving_the_page_and_is_sent_once(chatd_factory, browser_factory):
    port = free_port()
    server = chatd_factory(config(port)).start()
    base = f"http://localhost:{port}"
    alice, bob = browser_factory(), browser_factory()
    open_page(alice, base, "alice")
    open_page(bob, base, "bob")
    assert server.stop() == 0
    wait(alice, lambda d: status(d) == "waiting")
    send(alice, "typed while chatd was down")
    pending = lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, "#log .line.pending")]  # noqa: E731
    wait(alice, lambda d: pending(d) == ["typed while chatd was down — Not sent yet: it goes out when the connection is back."])
    # The page is left before chatd is back (a page cannot load while chatd is down, as it
    # serves it) and opened again after: the message, kept by chatd.js, goes out then.
    alice.get("about:blank")
    server.start()
    alice.get(f"{base}/?name=alice&room=lobby")
    wait(bob, lambda d: "typed while chatd was down" in texts(d), timeout=30)
    wait(alice, lambda d: "typed while chatd was down" in texts(d), timeout=30)
    wait(alice, lambda d: pending(d) == [])
    send(bob, "after")
    wait(alice, lambda d: "after" in texts(d))
    for page in (alice, bob):
        assert texts(page).count("typed while chatd was down") == 1


# Counts the frames the page's sockets send, by type, and the errors chatd answers; installed
# before the page's scripts run.
COUNT_SENDS = """
window.__sent = {}; window.__errors = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  try { const type = JSON.parse(data).type; window.__sent[type] = (window.__sent[type] || 0) + 1; } catch (e) {}
  if (!this.__counted) {
    this.__counted = true;
    this.addEventListener("message", (e) => {
      try { const m = JSON.parse(e.data); if (m.type === "error") window.__errors.push(m.code); } catch (x) {}
    });
  }
  return send.call(this, data);
};
"""


def test_others_joins_leaves_and_replies_do_not_spend_the_viewers_rate_limit(chatd_factory, browser_factory):
    port = free_port()
    # The other user's own frames (40 joins and leaves, 20 replies) are let through; the
    # viewer's sends are counted.
    chatd_factory(config(port, extra="[limits]\nrate_messages = 200\nuser_rate_messages = 400\n")).start()
    base = f"http://localhost:{port}"
    with open_ws(port, "token=dev-token&name=eve&room=elsewhere") as eve:
        until(eve, "history")
        eve.send(json.dumps({"type": "join", "room": "busy"}))
        until(eve, "history")
        for i in range(1, 81):
            eve.send(json.dumps({"type": "message", "room": "busy", "text": f"old {i}"}))
            until(eve, "message")
        eve.send(json.dumps({"type": "leave", "room": "busy"}))
        until(eve, "left")
        d = browser_factory()
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_SENDS})
        open_page(d, base, "viewer", room="busy")
        wait(d, lambda d: "old 80" in texts(d))
        time.sleep(2.5)
        before = d.execute_script("return {...window.__sent}")
        # A burst: eve joins and leaves 20 times, then replies to 20 old messages the page
        # has not loaded (its window holds the newest).
        for _ in range(20):
            eve.send(json.dumps({"type": "join", "room": "busy"}))
            eve.send(json.dumps({"type": "leave", "room": "busy"}))
        eve.send(json.dumps({"type": "join", "room": "busy"}))
        for i in range(1, 21):
            eve.send(json.dumps({"type": "message", "room": "busy", "text": f"re {i}", "replyTo": i}))
        wait(d, lambda d: "re 20" in texts(d))
        # The newest reply is on screen: its quote is fetched ("…" until then).
        quote = lambda d: message(d, "re 20").find_element(By.CSS_SELECTOR, ".quote").text  # noqa: E731
        wait(d, lambda d: "old 20" in quote(d))
        time.sleep(6)
        after = d.execute_script("return window.__sent")
        spent = {k: after.get(k, 0) - before.get(k, 0) for k in ("members", "history")}
        assert spent["members"] <= 6 and spent["history"] <= 6, (before, after)
        assert spent["members"] >= 1  # still kept up to date
        assert "rate_limited" not in d.execute_script("return window.__errors")
        assert not d.find_elements(By.CSS_SELECTOR, "#log .error")
        # The list is right after the burst: viewer and eve.
        members = lambda d: [e.get_attribute("textContent") for e in d.find_elements(By.CSS_SELECTOR, "#member-list li")]  # noqa: E731
        wait(d, lambda d: members(d) == ["eve", "viewer"])


def test_connect_while_offline_keeps_the_queued_message_and_other_settings_give_it_back(chatd_factory, browser_factory):
    port = free_port()
    server = chatd_factory(config(port)).start()
    base = f"http://localhost:{port}"
    alice, bob = browser_factory(), browser_factory()
    open_page(alice, base, "alice", room="off")
    open_page(bob, base, "bob", room="off")
    assert server.stop() == 0
    wait(alice, lambda d: status(d) == "waiting")
    send(alice, "typed while chatd was down")
    pending = lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, "#log .line.pending")]  # noqa: E731
    wait(alice, lambda d: len(pending(d)) == 1)
    server.start()
    # Connect, the settings unchanged: the same client connects now, its queue kept.
    alice.find_element(By.ID, "connect").click()
    wait(alice, lambda d: status(d) == "online", timeout=10)
    wait(bob, lambda d: "typed while chatd was down" in texts(d), timeout=30)
    wait(alice, lambda d: "typed while chatd was down" in texts(d))
    wait(alice, lambda d: pending(d) == [])
    assert not alice.find_elements(By.CSS_SELECTOR, "#log .error")
    assert texts(bob).count("typed while chatd was down") == 1

    # Offline again, a message queued, then Connect under another name: the text is not sent
    # as the new name, nor lost: it is back in the message box.
    assert server.stop() == 0
    wait(alice, lambda d: status(d) == "waiting")
    send(alice, "second while down")
    wait(alice, lambda d: len(pending(d)) == 1)
    name = alice.find_element(By.ID, "name")
    name.clear()
    name.send_keys("alicia")
    alice.find_element(By.ID, "connect").click()
    wait(alice, lambda d: d.find_element(By.ID, "message").get_attribute("value") == "second while down")
    assert not alice.find_elements(By.CSS_SELECTOR, "#log .error")
    server.start()
    wait(alice, lambda d: status(d) == "online", timeout=30)
    time.sleep(1.5)
    assert "second while down" not in texts(bob)
