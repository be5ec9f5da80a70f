"""The admin console (issue 18, items 3 and 4): /admin in headless Chromium through the shipped
nginx site, against the real chatd and its JSON API at /api/admin/*."""
import hashlib
import http.client
import json
import time

from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from websockets.exceptions import ConnectionClosed

from conftest import chat_config, free_port
from test_proxy import nginx, recv_until, start_behind_nginx, tls_browser, wss  # noqa: F401 - fixtures

ADMIN_TOKEN = "console-admin-secret"
MOD_TOKEN = "console-moderator-secret"
CREDENTIALS = f"""
[auth.credentials.root]
token_sha256 = "{hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()}"
role = "admin"
[auth.credentials.mod]
token_sha256 = "{hashlib.sha256(MOD_TOKEN.encode()).hexdigest()}"
role = "moderator"
"""


def wait(driver, timeout=15):
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))


def rows(driver, table):
    """The cells' texts of `table`'s body rows."""
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def accept_confirm(driver):
    def present(d):
        try:
            return d.switch_to.alert
        except NoAlertPresentException:
            return False
    alert = wait(driver).until(present)
    text = alert.text
    alert.accept()
    return text


def sign_in(driver, url, token):
    driver.get(url)
    box = wait(driver).until(lambda d: d.find_element(By.ID, "token"))
    box.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()


def test_an_admin_kicks_and_mutes_from_the_console_through_nginx(chatd_factory, nginx, tmp_path, tls_browser):  # noqa: F811
    tls_port, _, _ = start_behind_nginx(lambda config: chatd_factory(config + CREDENTIALS), nginx, tmp_path)
    victim = wss(tls_port, tmp_path, query="name=victim&room=lobby")
    talker = wss(tls_port, tmp_path, query="name=talker&room=lobby")
    for ws in (victim, talker):
        recv_until(ws, "presence")
    url = f"https://localhost:{tls_port}/admin"
    browser = tls_browser()

    # A moderator's token is valid but not an admin's: the console says so and stays closed.
    sign_in(browser, url, MOD_TOKEN)
    wait(browser).until(lambda d: "not admin" in d.find_element(By.ID, "login-error").text)
    assert not browser.find_element(By.ID, "console").is_displayed()

    browser.find_element(By.ID, "token").clear()
    sign_in(browser, url, ADMIN_TOKEN)
    # The room with its two members, and both connections.
    wait(browser).until(lambda d: ["lobby", "2"] == rows(d, "rooms")[0][:2] if rows(d, "rooms") else False)
    wait(browser).until(lambda d: {"victim", "talker"} <= {r[0] for r in rows(d, "connections")})
    assert browser.execute_script("return sessionStorage.getItem('chatd-admin-token')") == ADMIN_TOKEN
    assert browser.get_cookies() == []

    # Kick the victim: a confirmation, then its socket closes with 1008.
    row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "#connections tbody tr")
               if tr.find_element(By.TAG_NAME, "td").text == "victim")
    row.find_element(By.CSS_SELECTOR, "button.kick").click()
    assert "victim" in accept_confirm(browser)
    deadline = time.monotonic() + 10
    code = None
    while time.monotonic() < deadline:
        try:
            victim.recv(timeout=max(0.1, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            break
    assert code == 1008
    wait(browser).until(lambda d: "victim" not in {r[0] for r in rows(d, "connections")})

    # Mute the talker for an hour: their next message is refused with `muted`.
    Select(browser.find_element(By.ID, "restrict-action")).select_by_value("mute")
    browser.find_element(By.ID, "restrict-user").send_keys("guest:talker")
    Select(browser.find_element(By.ID, "restrict-duration")).select_by_value("3600")
    browser.find_element(By.ID, "restrict-reason").send_keys("too loud")
    browser.find_element(By.CSS_SELECTOR, "#restrict button[type=submit]").click()
    assert "guest:talker" in accept_confirm(browser)
    wait(browser).until(lambda d: d.find_element(By.ID, "notice").text.startswith("Done"))
    talker.send(json.dumps({"type": "message", "text": "can you hear me?"}))
    assert recv_until(talker, "error")["code"] == "muted"
    talker.close()

    # Both are in the audit log, each found by filtering on its action, with the admin as actor.
    def audit_for(action):
        Select(browser.find_element(By.ID, "audit-action")).select_by_value(action)
        browser.find_element(By.CSS_SELECTOR, "#audit-filter button[type=submit]").click()
        wait(browser).until(lambda d: rows(d, "audit") and all(r[2] == action for r in rows(d, "audit")))
        return rows(browser, "audit")

    kicks = audit_for("kick")
    assert len(kicks) == 1 and kicks[0][1] == "admin:root (console)", kicks
    mutes = audit_for("mute")
    assert len(mutes) == 1 and mutes[0][1] == "admin:root (console)" and "guest:talker" in mutes[0][3], mutes
    assert mutes[0][4] == "too loud"

    # The overview and the charts are drawn from the API (SVG built by the script).
    overview = browser.find_element(By.ID, "overview").text
    assert "Config generation" in overview and "1" in overview
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-connections svg"))
    # Nothing the page does is refused by its CSP (no inline script or style anywhere).
    refused = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []
    # Signing out forgets the token.
    browser.find_element(By.ID, "logout").click()
    assert browser.execute_script("return sessionStorage.getItem('chatd-admin-token')") is None
    assert browser.find_element(By.ID, "login").is_displayed()


def test_the_console_speaks_chinese_and_the_api_refuses_cross_site_use(chatd_factory, browser_factory):
    port = free_port()
    chatd_factory(chat_config(port, extra=CREDENTIALS + '[metrics]\nlisten = ""\n')).start()
    browser = browser_factory(lang="zh-CN")
    sign_in(browser, f"http://localhost:{port}/admin", ADMIN_TOKEN)
    wait(browser).until(lambda d: d.find_element(By.ID, "console").is_displayed())
    assert browser.find_element(By.TAG_NAME, "h1").text == "chatd 管理控制台"
    assert browser.find_element(By.ID, "h-audit").text == "审计日志"
    # A page of another origin, in the same browser, cannot use the API: it has no token (no
    # cookie carries one), and a request that names a token is refused for its origin.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/api/admin/actions", body=json.dumps({"command": "kick", "user": "guest:x"}),
                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json",
                          "Origin": "https://evil.example"})
    response = conn.getresponse()
    assert response.status == 403
    assert response.getheader("Access-Control-Allow-Origin") is None
    assert json.loads(response.read())["error"] == "origin not allowed (auth.allowed_origins)"
    conn.close()
    # The page's CSP allows what the console needs and nothing inline.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/admin")
    response = conn.getresponse()
    csp = response.getheader("Content-Security-Policy")
    response.read()
    conn.close()
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "connect-src 'self'" in csp
