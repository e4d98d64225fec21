"""The web chat in headless Chromium against a scripted backend (tests/serve/scripted_backend.py).

The page, router and CSP are the shipped ones; only the answers are scripted,
so each behaviour of the page (escaping, stop, errors, history, languages,
export, keyboard, layout, accessibility) is checked on demand. The test against
``kazft serve`` and a trained model is tests/serve/test_webchat_demo.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kazft.notice import AI_NOTICE

from .browser import (
    ServerThread,
    axe_violations,
    chromium,
    describe,
    lan_address,
    requested_urls,
    resource_urls,
)
from .scripted_backend import SLOW_WORDS, make_app

KEY = "s3cret-office-key"


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[str, dict]]:
    app = make_app()
    with ServerThread(app) as server:
        yield server.url, app.state.script


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("chromium")
    with chromium(root / "profile", root / "downloads") as driver:
        driver.downloads = root / "downloads"
        yield driver


def wait(driver: Any, script: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script("return " + script)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.05)


def fresh(driver: Any, url: str, *, intro: bool = False) -> None:
    """Open the page as a first-time visitor (empty storage); close the intro unless asked."""
    driver.get(url + "/")
    driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    driver.get(url + "/")
    wait(driver, "document.body.dataset.ready")
    if not intro:
        close_intro(driver)


def close_intro(driver: Any) -> None:
    if driver.execute_script("return document.getElementById('intro').open"):
        driver.find_element("id", "intro-ok").click()
        wait(driver, "!document.getElementById('intro').open")


def ask(driver: Any, text: str, *, finish: bool = True) -> None:
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("id", "question")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    if finish:
        wait(driver, "document.getElementById('send').hidden === false")


def answers(driver: Any) -> list[str]:
    return [e.text for e in driver.find_elements("css selector", ".msg.assistant .body")]


def test_first_visit_kazakh_card_notice_and_nothing_outside_the_server(backend, browser):
    url, _ = backend
    browser.get_log("performance")  # start the request log here
    fresh(browser, url, intro=True)
    assert browser.execute_script("return document.documentElement.lang") == "kk"
    # First visit: the adapter card's intended use and risk class, and the notice.
    intro = browser.find_element("id", "intro")
    assert intro.is_displayed()
    assert (
        browser.find_element("id", "intro-use").text
        == "drafting answers for a qualified lawyer to check"
    )
    assert browser.find_element("id", "intro-risk").text == "орташа"
    assert browser.find_element("id", "intro-notice").text == AI_NOTICE["kk"]
    assert browser.find_element("id", "intro-reviewer").text == "a qualified lawyer of the team"
    assert describe(axe_violations(browser)) == ""
    close_intro(browser)
    # The adapter is picked by default, with its card's description; the base is listed too.
    assert browser.find_element("id", "model").get_attribute("value") == "legal"
    assert "Қазақ заң сұрақтарына жауап" in browser.find_element("id", "model-description").text
    options = [
        o.get_attribute("value") for o in browser.find_elements("css selector", "#model option")
    ]
    assert options == ["tiny", "legal"]
    browser.refresh()
    wait(browser, "document.body.dataset.ready")
    assert not browser.execute_script("return document.getElementById('intro').open")  # once only

    ask(browser, "Талап қоюдың ескіру мерзімі қанша?")
    assert answers(browser) == ["Жауап: Талап қоюдың ескіру мерзімі қанша?"]
    notice = browser.find_element("css selector", ".msg.assistant .notice").text
    assert notice == AI_NOTICE["kk"]
    stats = browser.find_element("css selector", ".msg.assistant .stats").text
    assert re.fullmatch(r"алғашқы токен \d+\.\d\d с · \d+\.\d токен/с · 3 токен", stats), stats
    assert describe(axe_violations(browser)) == ""

    # No Content-Security-Policy violation or script error in the console.
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []

    origin = url + "/"
    urls = requested_urls(browser) + resource_urls(browser)
    assert urls and all(u.startswith(origin) for u in urls), [
        u for u in urls if not u.startswith(origin)
    ]
    assert {u[len(url) :] for u in urls} >= {
        "/",
        "/ui/app.js",
        "/ui/style.css",
        "/v1/models",
        "/v1/chat/completions",
    }


def test_question_and_answer_html_is_shown_as_text_and_never_runs(backend, browser):
    url, _ = backend
    fresh(browser, url)
    question = 'XSS <img src=x onerror="window.__xss=3"> <script>window.__xss=4</script>'
    ask(browser, question)
    user = browser.find_element("css selector", ".msg.user .body").text
    assert user == question
    answer = answers(browser)[0]
    assert (
        '<img src=x onerror="window.__xss=1">' in answer
        and "<script>window.__xss=2</script>" in answer
    )
    assert browser.find_element("css selector", ".msg.assistant .body strong").text == "маңызды"
    assert browser.execute_script("return window.__xss") is None
    found = browser.execute_script(
        "return document.querySelectorAll('#messages img, #messages script, #conversations img').length"
    )
    assert found == 0
    # The conversation title (the question) is text in the list, too.
    assert browser.find_element("css selector", "#conversations .conv").text.startswith("XSS <img")
    browser.refresh()
    wait(browser, "document.body.dataset.ready")
    assert browser.execute_script("return window.__xss") is None
    assert browser.execute_script("return document.querySelectorAll('#messages img').length") == 0


def test_markdown_lists_bold_and_numbered_articles(backend, browser):
    url, _ = backend
    fresh(browser, url)
    ask(browser, "MD")
    body = browser.find_element("css selector", ".msg.assistant .body")
    assert body.find_element("css selector", "p strong").text == "Қысқаша жауап:"
    ol = body.find_element("css selector", "ol")
    assert ol.get_attribute("start") == "5"
    assert [li.text for li in ol.find_elements("css selector", "li")] == [
        "Бесінші бап",
        "Алтыншы бап",
    ]
    assert [li.text for li in body.find_elements("css selector", "ul li")] == [
        "бірінші тармақ",
        "екінші тармақ",
    ]
    assert body.find_element("css selector", "code").text == "АК 178-бап"
    # A link stays text: an answer never sends a lawyer (or the browser) elsewhere.
    assert not body.find_elements("css selector", "a")
    assert "[сілтеме](https://example.com/x)" in body.text


def test_enter_sends_and_shift_enter_adds_a_line(backend, browser):
    from selenium.webdriver.common.keys import Keys

    url, script = backend
    fresh(browser, url)
    box = browser.find_element("id", "question")
    box.send_keys("бірінші жол")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("екінші жол")
    assert not browser.find_elements("css selector", ".msg.user")  # Shift+Enter did not send
    box.send_keys(Keys.ENTER)
    wait(browser, "document.getElementById('send').hidden === false")
    assert browser.find_element("css selector", ".msg.user .body").text == "бірінші жол\nекінші жол"
    assert script["requests"][-1]["messages"][-1]["content"] == "бірінші жол\nекінші жол"
    assert box.get_attribute("value") == ""


def test_stop_mid_stream_keeps_the_partial_answer_and_frees_the_server(backend, browser):
    url, script = backend
    fresh(browser, url)
    before = script["disconnected"]
    ask(browser, "SLOW", finish=False)
    wait(browser, "(document.querySelector('.msg.assistant .body') || {}).textContent.length > 20")
    stop = browser.find_element("id", "stop")
    assert stop.is_displayed()
    stop.click()
    wait(browser, "document.getElementById('send').hidden === false")
    partial = answers(browser)[0]
    assert 0 < partial.count("сөз") < SLOW_WORDS
    assert browser.find_element("css selector", ".msg.assistant .note").text == "Тоқтатылды."
    deadline = time.monotonic() + 5
    while script["disconnected"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert script["disconnected"] == before + 1  # the server saw the request end
    time.sleep(0.5)
    assert answers(browser)[0] == partial  # nothing arrives after stop
    # Escape stops an answer too (keyboard use).
    ask(browser, "SLOW", finish=False)
    wait(browser, "document.querySelectorAll('.msg.assistant')[1].textContent.length > 20")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait(browser, "document.getElementById('send').hidden === false")
    assert browser.find_elements("css selector", ".msg.assistant .note")[1].text == "Тоқтатылды."
    browser.find_element("id", "new-chat").click()
    ask(browser, "SLOW", finish=False)
    wait(browser, "(document.querySelector('.msg.assistant .body') || {}).textContent.length > 20")
    browser.find_element("id", "stop").click()
    wait(browser, "document.getElementById('send').hidden === false")
    partial = answers(browser)[0]
    # The stopped answer is kept and marked after a reload too.
    browser.refresh()
    wait(browser, "document.body.dataset.ready")
    assert answers(browser)[0] == partial


def test_history_survives_reload_new_chat_and_switching(backend, browser):
    url, script = backend
    fresh(browser, url)
    ask(browser, "Бірінші сұрақ")
    ask(browser, "Екінші сұрақ")
    # The second request carried the first turn: the conversation is the model's context.
    assert [m["content"] for m in script["requests"][-1]["messages"]] == [
        "Бірінші сұрақ",
        "Жауап: Бірінші сұрақ",
        "Екінші сұрақ",
    ]
    browser.refresh()
    wait(browser, "document.body.dataset.ready")
    assert answers(browser) == ["Жауап: Бірінші сұрақ", "Жауап: Екінші сұрақ"]
    browser.find_element("id", "new-chat").click()
    assert answers(browser) == []
    ask(browser, "Үшінші сұрақ")
    titles = [b.text for b in browser.find_elements("css selector", "#conversations .conv")]
    assert titles == ["Үшінші сұрақ", "Бірінші сұрақ"]
    browser.find_elements("css selector", "#conversations .conv")[1].click()
    assert answers(browser) == ["Жауап: Бірінші сұрақ", "Жауап: Екінші сұрақ"]
    # Delete the open conversation: it is gone after a reload too.
    browser.find_elements("css selector", "#conversations .del")[1].click()
    browser.refresh()
    wait(browser, "document.body.dataset.ready")
    titles = [b.text for b in browser.find_elements("css selector", "#conversations .conv")]
    assert titles == ["Үшінші сұрақ"]


def test_russian_and_english_interface_with_the_notice_in_that_language(backend, browser):
    from selenium.webdriver.support.ui import Select

    url, _ = backend
    fresh(browser, url)
    ask(browser, "Сұрақ")
    Select(browser.find_element("id", "lang")).select_by_value("ru")
    assert browser.execute_script("return document.documentElement.lang") == "ru"
    assert browser.find_element("id", "send").text == "Отправить"
    assert browser.find_element("css selector", ".msg.assistant .notice").text == AI_NOTICE["ru"]
    browser.refresh()
    wait(browser, "document.body.dataset.ready")
    assert browser.find_element("css selector", ".msg.assistant .notice").text == AI_NOTICE["ru"]
    Select(browser.find_element("id", "lang")).select_by_value("en")
    assert browser.find_element("id", "new-chat").text == "New chat"
    assert browser.find_element("css selector", ".msg.assistant .notice").text == AI_NOTICE["en"]
    assert describe(axe_violations(browser)) == ""
    Select(browser.find_element("id", "lang")).select_by_value("kk")


def test_visible_errors_busy_connection_lost_and_retry(backend, browser):
    url, _ = backend
    fresh(browser, url)
    ask(browser, "BUSY сұрақ")
    error = browser.find_element("css selector", ".msg.assistant .error")
    assert error.text == "Сервер бос емес: 7 с кейін қайталаңыз."
    assert error.get_attribute("role") == "alert"
    ask(browser, "CUT сұрақ")
    errors = browser.find_elements("css selector", ".msg.assistant .error")
    assert errors[-1].text == "Сервермен байланыс үзілді."
    assert answers(browser)[-1] == "Жауап:"  # what arrived before the cut stays
    browser.find_element("css selector", ".msg.assistant .retry").click()
    wait(browser, "document.getElementById('send').hidden === false")
    assert (
        browser.find_elements("css selector", ".msg.assistant .error")[-1].text
        == "Сервермен байланыс үзілді."
    )
    assert len(answers(browser)) == 2  # retry replaced the failed answer


def test_api_key_asked_once_kept_for_the_session_only(tmp_path_factory, browser):
    app = make_app(api_key=KEY)
    with ServerThread(app) as server:
        fresh_key_page(browser, server.url)
        dialog = browser.find_element("id", "key-dialog")
        assert dialog.is_displayed()
        assert not browser.find_element("id", "key-error").is_displayed()
        enter_key(browser, "wrong")
        wait(browser, "!document.getElementById('key-error').hidden")
        assert browser.find_element("id", "key-error").text == "Кілт қате. Оны қайта енгізіңіз."
        enter_key(browser, KEY)
        wait(browser, "document.body.dataset.ready")
        close_intro(browser)
        assert browser.execute_script("return sessionStorage.getItem('kazft.apiKey')") == f'"{KEY}"'
        assert KEY not in browser.execute_script("return JSON.stringify(localStorage)")
        browser.refresh()
        wait(browser, "document.body.dataset.ready")
        assert not browser.find_element("id", "key-dialog").is_displayed()  # asked once
        ask(browser, "Кілтпен сұрақ")
        assert answers(browser) == ["Жауап: Кілтпен сұрақ"]
        # The key is changed on the server: the answer says so and the page asks again.
        app.state.script["key"] = "rotated"
        ask(browser, "Тағы сұрақ")
        assert browser.find_elements("css selector", ".msg.assistant .error")[-1].text == (
            "Кілт қате. Оны қайта енгізіңіз."
        )
        wait(browser, "document.getElementById('key-dialog').open")
        enter_key(browser, "rotated")
        browser.find_element("css selector", ".msg.assistant .retry").click()
        wait(browser, "document.getElementById('send').hidden === false")
        assert answers(browser)[-1] == "Жауап: Тағы сұрақ"


def fresh_key_page(driver: Any, url: str) -> None:
    driver.get(url + "/")
    driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    driver.get(url + "/")
    wait(driver, "document.getElementById('key-dialog').open")


def enter_key(driver: Any, key: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("id", "key-input")
    box.clear()
    box.send_keys(key, Keys.ENTER)


def test_copy_and_export_markdown(backend, browser):
    url, _ = backend
    fresh(browser, url)
    ask(browser, "Көшіретін сұрақ")
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    copy = browser.find_element("css selector", ".msg.assistant .copy")
    copy.click()
    wait(browser, "document.querySelector('.msg.assistant .copy').textContent === 'Көшірілді'")
    copied = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('ERR ' + e));"
    )
    assert copied == "Жауап: Көшіретін сұрақ"

    downloads: Path = browser.downloads
    before = set(downloads.glob("*.md")) if downloads.exists() else set()
    browser.find_element("id", "export").click()
    deadline = time.monotonic() + 10
    while True:
        new = (set(downloads.glob("*.md")) if downloads.exists() else set()) - before
        if new or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(new) == 1, "no Markdown file was downloaded"
    text = new.pop().read_text(encoding="utf-8")
    assert text.startswith("# Көшіретін сұрақ\n")
    assert "## Сіз\n\nКөшіретін сұрақ\n" in text
    assert "Жауап: Көшіретін сұрақ" in text
    assert f"> {AI_NOTICE['kk']}" in text


def test_keyboard_only_use(backend, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    url, _ = backend
    fresh(browser, url, intro=True)
    # The intro dialog has focus on its button: Enter closes it, focus goes to the question.
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait(browser, "!document.getElementById('intro').open")
    wait(browser, "document.activeElement.id === 'question'", 5)
    ActionChains(browser).send_keys("Пернетақта", Keys.ENTER).perform()
    wait(browser, "document.getElementById('send').hidden === false")
    assert answers(browser) == ["Жауап: Пернетақта"]
    # Tab reaches every control; each shows a focus ring (outline) when focused by keyboard.
    seen = set()
    for _ in range(25):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        el = browser.switch_to.active_element
        if el.tag_name == "body":
            continue
        seen.add(el.get_attribute("id") or el.get_attribute("class"))
        outline = browser.execute_script(
            "return getComputedStyle(document.activeElement).outlineStyle"
        )
        assert outline != "none", el.get_attribute("outerHTML")[:120]
    assert {"model", "lang", "about", "new-chat", "question", "send", "export", "copy"} <= seen


def test_phone_and_laptop_layouts_with_screenshots(backend, browser, tmp_path_factory):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    url, _ = backend
    shots = tmp_path_factory.mktemp("screenshots")
    try:
        browser.set_window_size(390, 844)
        fresh(browser, url)
        ask(browser, "MD")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways at phone width"
        assert browser.find_element("id", "menu").is_displayed()
        assert not browser.find_element("id", "sidebar").is_displayed()
        browser.find_element("id", "menu").click()
        assert browser.find_element("id", "sidebar").is_displayed()
        assert describe(axe_violations(browser)) == ""
        ActionChains(browser).send_keys(Keys.ESCAPE).perform()  # Escape closes the list
        assert not browser.find_element("id", "sidebar").is_displayed()
        assert browser.switch_to.active_element.get_attribute("id") == "menu"
        browser.find_element("id", "menu").click()
        browser.find_element("css selector", "#conversations .conv").click()
        assert not browser.find_element("id", "sidebar").is_displayed()
        browser.save_screenshot(str(shots / "webchat-phone.png"))
    finally:
        browser.set_window_size(1366, 860)
    assert not browser.find_element("id", "menu").is_displayed()
    assert browser.find_element("id", "sidebar").is_displayed()
    browser.save_screenshot(str(shots / "webchat-laptop.png"))
    assert (shots / "webchat-phone.png").stat().st_size > 5000
    assert (shots / "webchat-laptop.png").stat().st_size > 5000


def test_copy_works_over_plain_http_on_the_office_network(browser):
    """On http://OFFICE-ADDRESS the page is not a secure context (no Clipboard API): copy
    falls back to the selection, and the text still reaches the clipboard."""
    addr = lan_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback address")
    app = make_app()
    with ServerThread(app, host=addr) as lan, ServerThread(make_app()) as local:
        fresh(browser, lan.url)
        assert browser.execute_script("return window.isSecureContext") is False
        ask(browser, "Кеңседегі сұрақ")
        browser.find_element("css selector", ".msg.assistant .copy").click()
        wait(browser, "document.querySelector('.msg.assistant .copy').textContent === 'Көшірілді'")
        # Read the clipboard from a secure origin (loopback), where reading is allowed.
        browser.get(local.url + "/ui/config.json")
        browser.execute_cdp_cmd(
            "Browser.grantPermissions",
            {"origin": local.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
        )
        copied = browser.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('ERR ' + e));"
        )
        assert copied == "Жауап: Кеңседегі сұрақ"


def test_two_tabs_keep_each_others_conversations(backend, browser):
    url, _ = backend
    fresh(browser, url)
    first = browser.current_window_handle
    ask(browser, "Бірінші бетте")
    browser.switch_to.new_window("tab")
    second = browser.current_window_handle

    def titles() -> list[str]:
        return sorted(b.text for b in browser.find_elements("css selector", "#conversations .conv"))

    try:
        browser.get(url + "/")
        wait(browser, "document.body.dataset.ready")
        browser.find_element("id", "new-chat").click()
        ask(browser, "Екінші бетте")
        assert titles() == ["Бірінші бетте", "Екінші бетте"]
        browser.switch_to.window(first)
        # The first tab learns of the second's conversation, and its own next answer
        # does not overwrite it.
        wait(browser, "document.querySelectorAll('#conversations .conv').length === 2")
        ask(browser, "Тағы бірінші бетте")
        browser.refresh()
        wait(browser, "document.body.dataset.ready")
        assert titles() == ["Бірінші бетте", "Екінші бетте"]
        assert answers(browser) == ["Жауап: Бірінші бетте", "Жауап: Тағы бірінші бетте"]
        # Deleted in the first tab: it stays deleted when the second tab saves.
        rows = browser.find_elements("css selector", "#conversations li")
        next(r for r in rows if r.text.startswith("Екінші бетте")).find_element(
            "css selector", ".del"
        ).click()
        browser.switch_to.window(second)
        wait(browser, "document.querySelectorAll('#conversations .conv').length === 1")
        ask(browser, "Үшінші")
        browser.switch_to.window(first)
        browser.refresh()
        wait(browser, "document.body.dataset.ready")
        assert titles() == ["Бірінші бетте", "Үшінші"]
        # While the first tab streams (and so does not reload the list), the second
        # starts a conversation; the first tab's save at the end keeps it.
        browser.find_element("id", "new-chat").click()
        ask(browser, "SLOW", finish=False)
        wait(browser, "document.getElementById('stop').hidden === false")
        browser.switch_to.window(second)
        browser.find_element("id", "new-chat").click()
        ask(browser, "Төртінші")
        browser.switch_to.window(first)
        browser.find_element("id", "stop").click()
        wait(browser, "document.getElementById('send').hidden === false")
        browser.refresh()
        wait(browser, "document.body.dataset.ready")
        assert titles() == ["SLOW", "Бірінші бетте", "Төртінші", "Үшінші"]
    finally:
        browser.switch_to.window(second)
        browser.close()
        browser.switch_to.window(first)


def test_full_browser_storage_is_said_not_silent(backend, browser):
    url, _ = backend
    fresh(browser, url)
    browser.execute_script(
        "const block = 'x'.repeat(1 << 20); let i = 0;"
        "try { for (;;) localStorage.setItem('filler' + i++, block); } catch (e) {}"
        "let small = 'x'.repeat(1 << 10);"
        "try { for (;;) localStorage.setItem('small' + i++, small); } catch (e) {}"
    )
    try:
        ask(browser, "Сақталмайтын сұрақ " + "ұзын " * 200)
        alert = browser.find_element("id", "alert")
        assert alert.is_displayed() and alert.text.startswith("Сұхбат осы браузерге сақталмады")
        assert answers(browser)[0].startswith("Жауап: Сақталмайтын сұрақ")  # still shown
    finally:
        browser.execute_script("localStorage.clear()")
