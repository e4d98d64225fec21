"""The issue's done-when check, in a real browser against ``kazft serve``.

As a user would: train recipes/demo.yaml (the `make demo` step, about a minute
of CPU on the embedded tiny model), start ``kazft serve --recipe
recipes/demo.yaml``, open the page, pick the adapter, type the demo's Kazakh
question: the streamed answer is the trained answer, and equals the API's own
greedy answer for the same question. Also here, on the real server: stop
mid-stream, reload keeps the history, the page asks for nothing outside the
server, axe finds no serious issue, and the phone and laptop screenshots
(docs/webchat.png is the laptop one; KAZFT_SCREENSHOTS=DIR keeps them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kazft.notice import AI_NOTICE

from .browser import axe_violations, chromium, describe, requested_urls, resource_urls
from .test_webchat import answers, ask, close_intro, wait

ROOT = Path(__file__).resolve().parents[2]
DEMO = [
    json.loads(line) for line in (ROOT / "data/legal/demo.jsonl").read_text("utf-8").splitlines()
]
QUESTION = "Талап қоюдың жалпы ескіру мерзімі қанша?"  # the Makefile's DEMO_QUESTION
KEY = "office-key-0123456789abcdef"

pytestmark = pytest.mark.slow


def kazft(*args: str, cwd: Path, **kw: Any) -> Any:
    # The worktree's kazft, as this test process imports it (PYTHONPATH first).
    paths = [os.environ.get("PYTHONPATH", ""), *sys.path]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
    }
    return subprocess.Popen([sys.executable, "-m", "kazft", *args], cwd=cwd, env=env, **kw)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A fresh checkout's layout in a temporary folder: train the demo, then serve it."""
    work = tmp_path_factory.mktemp("demo")
    shutil.copytree(ROOT / "recipes", work / "recipes")
    (work / "data/legal").mkdir(parents=True)
    shutil.copy(ROOT / "data/legal/demo.jsonl", work / "data/legal/demo.jsonl")
    train = kazft("train", "recipes/demo.yaml", "--overwrite", cwd=work, stdout=subprocess.DEVNULL)
    assert train.wait(timeout=600) == 0, "kazft train recipes/demo.yaml failed"

    log = work / "serve.log"
    with open(log, "wb") as out:
        args = ["serve", "--recipe", "recipes/demo.yaml", "--port", "0", "--api-key", KEY]
        server = kazft(
            *args, cwd=work, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        url = None
        while url is None:
            m = re.search(
                r"kazft serve: (http://127\.0\.0\.1:\d+)", log.read_text("utf-8", "replace")
            )
            url = m.group(1) if m else None
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("kazft serve did not start:\n" + log.read_text("utf-8", "replace"))
            time.sleep(0.1)
        yield url, log
    finally:
        # Only the process group this fixture started.
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("chromium-demo")
    with chromium(root / "profile", root / "downloads") as driver:
        yield driver


def api_answer(url: str, model: str, question: str) -> str:
    import httpx

    r = httpx.post(
        url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={
            "model": model,
            "messages": [{"role": "user", "content": question}],
            "temperature": 0,
        },
        timeout=120,
    )
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


def test_typed_kazakh_question_gets_the_demo_trained_answer(served, browser, tmp_path_factory):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    url, _ = served
    browser.get_log("performance")
    browser.get(url + "/")
    # The server has a key: the page asks for it once.
    wait(browser, "document.getElementById('key-dialog').open")
    browser.find_element("id", "key-input").send_keys(KEY, Keys.ENTER)
    wait(browser, "document.body.dataset.ready === 'true'")
    # First visit: the adapter card's intended use and risk class (recipes/legal.yaml's card).
    assert browser.execute_script("return document.getElementById('intro').open")
    assert browser.find_element("id", "intro-risk").text in ("төмен", "орташа", "жоғары")
    assert browser.find_element("id", "intro-use").text not in ("", "—")
    close_intro(browser)

    models = [
        o.get_attribute("value") for o in browser.find_elements("css selector", "#model option")
    ]
    adapters = [m for m in models if m != models[0]]
    assert len(models) == 2 and adapters, models  # the base and the demo adapter
    Select(browser.find_element("id", "model")).select_by_value(adapters[0])
    ask(browser, QUESTION)
    trained = next(r["output"] for r in DEMO if r["instruction"] == QUESTION)
    shown = browser.execute_script(
        "return document.querySelector('.msg.assistant .body').textContent"
    )
    assert shown == trained
    assert shown == api_answer(url, adapters[0], QUESTION)  # the API's greedy answer
    assert browser.find_element("css selector", ".msg.assistant .notice").text == AI_NOTICE["kk"]
    stats = browser.find_element("css selector", ".msg.assistant .stats").text
    assert re.fullmatch(r"алғашқы токен \d+\.\d\d с · \d+\.\d токен/с · \d+ токен", stats), stats

    # No console error (CSP violations included), nothing outside the server, and no
    # serious accessibility finding.
    # (The one expected: /v1/models answered 401 before the key was typed.)
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert [
        m for m in severe if "/v1/models - Failed to load resource" not in m or "401" not in m
    ] == []
    urls = requested_urls(browser) + resource_urls(browser)
    assert all(u.startswith(url + "/") for u in urls), [u for u in urls if not u.startswith(url)]
    assert describe(axe_violations(browser)) == ""

    shots = Path(os.environ.get("KAZFT_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "webchat-laptop.png"))
    try:
        browser.set_window_size(390, 844)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        assert describe(axe_violations(browser)) == ""
        browser.save_screenshot(str(shots / "webchat-phone.png"))
    finally:
        browser.set_window_size(1366, 860)
    for name in ("webchat-laptop.png", "webchat-phone.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Reload: the conversation is still there (the server keeps none of it).
    browser.refresh()
    wait(browser, "document.body.dataset.ready === 'true'")
    assert answers(browser) == [trained]


def test_stop_mid_stream_on_the_real_server(served, browser):
    from selenium.webdriver.support.ui import Select

    url, _ = served
    browser.get(url + "/")
    wait(browser, "document.body.dataset.ready === 'true'")
    close_intro(browser)
    browser.find_element("id", "new-chat").click()
    # The untrained base rambles until max_tokens: long enough to stop.
    base = browser.find_elements("css selector", "#model option")[0].get_attribute("value")
    Select(browser.find_element("id", "model")).select_by_value(base)
    ask(browser, "Неке жасы қандай?", finish=False)
    wait(
        browser, "(document.querySelector('.msg.assistant .body') || {}).textContent.length > 0", 60
    )
    browser.find_element("id", "stop").click()
    wait(browser, "document.getElementById('send').hidden === false")
    partial = answers(browser)[-1]
    time.sleep(0.5)
    assert answers(browser)[-1] == partial
    assert browser.find_element("css selector", ".msg.assistant .note").text == "Тоқтатылды."
    # The server is free again: a new chat with the adapter gets its trained answer in full.
    browser.find_element("id", "new-chat").click()
    adapter = browser.find_elements("css selector", "#model option")[1].get_attribute("value")
    Select(browser.find_element("id", "model")).select_by_value(adapter)
    ask(browser, QUESTION)
    trained = next(r["output"] for r in DEMO if r["instruction"] == QUESTION)
    assert answers(browser) == [trained]
    assert not browser.find_elements("css selector", ".msg.assistant .error")
