"""The rating page in headless Chromium: a rater grades three items, reloads, continues;
nothing on the page names the systems; no request leaves the server; axe finds nothing
serious; the page works by keyboard (1-4, Ctrl+Enter)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kazft.cli import main
from kazft.review.app import create_review_app
from kazft.review.report import build_report
from kazft.review.store import read_items

from ..serve.browser import (
    ServerThread,
    axe_violations,
    chromium,
    describe,
    requested_urls,
    resource_urls,
)
from .review_helpers import make_review

pytestmark = pytest.mark.slow

QUESTIONS = [
    {"instruction": f"Сұрақ {i}: еңбек шарты қалай бұзылады?", "category": c, "difficulty": d}
    for i, (c, d) in enumerate(
        [("labour", "basic"), ("tax", "medium"), ("civil", "complex"), ("family", "basic")]
    )
]


@pytest.fixture(scope="module")
def review_dir(tiny_dirs, tmp_path_factory) -> Path:
    return make_review(tmp_path_factory.mktemp("review_browser"), tiny_dirs["gemma3"], QUESTIONS, 6)


def _wait(driver, script: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def _grade(driver, pref_key: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for side in ("a", "b"):
        driver.find_element(
            By.CSS_SELECTOR, f"input[name='{side}-accuracy'][value='correct']"
        ).click()
        driver.find_element(
            By.CSS_SELECTOR, f"input[name='{side}-citations'][value='none']"
        ).click()
        driver.find_element(
            By.CSS_SELECTOR, f"select[name='{side}-completeness'] option[value='4']"
        ).click()
    body = driver.find_element(By.TAG_NAME, "body")
    driver.execute_script("document.activeElement.blur()")
    body.send_keys(pref_key)  # 1-4 chooses the preference
    driver.find_element(By.ID, "comment").send_keys("ok" + Keys.CONTROL + Keys.ENTER)


def test_a_rater_grades_three_items_reloads_and_continues(review_dir: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By

    items = read_items(review_dir)
    with (
        ServerThread(create_review_app(review_dir)) as server,
        chromium(tmp_path / "profile", tmp_path / "dl") as driver,
    ):
        requested_urls(driver)  # drop the browser's own start-up page from the log
        driver.get(server.url + "/")
        driver.find_element(By.ID, "rater").send_keys("Айгүл")
        driver.find_element(By.ID, "start").click()
        _wait(driver, "return !document.getElementById('rate').hidden")
        shown = driver.find_element(By.ID, "question").text
        assert shown == items[0].question
        page = driver.page_source
        for secret in ("adapter", "base model", "key.json"):
            assert secret not in page
        notice = driver.find_element(By.ID, "notice-a").text
        assert "заңгер" in notice  # the Kazakh AI-law notice under each answer
        violations = axe_violations(driver)
        assert not violations, describe(violations)
        for n, key in enumerate(("1", "2", "3")):
            _grade(driver, key)
            _wait(
                driver,
                f"return document.getElementById('progress').textContent.includes('{n + 2} /')",
            )
        lines = (review_dir / "ratings.jsonl").read_text().splitlines()
        assert [json.loads(x)["preference"] for x in lines] == ["A", "B", "tie"]
        driver.refresh()  # the rater's name is remembered; the page resumes at item 4
        _wait(driver, "return !document.getElementById('rate').hidden")
        assert driver.find_element(By.ID, "question").text == items[3].question
        _grade(driver, "4")
        _wait(driver, "return !document.getElementById('done').hidden")
        urls = requested_urls(driver) + resource_urls(driver)
        assert urls and all(u.startswith(server.url) for u in urls), urls
    report = build_report(review_dir)
    assert report.ratings == 4 and report.raters == ["Айгүл"]
    assert report.outcomes["tie"] == 1 and report.outcomes["both_bad"] == 1
    assert main(["review", "report", str(review_dir)]) == 0
