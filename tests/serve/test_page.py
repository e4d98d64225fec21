"""The page router on its own: what it serves, with which headers, and that it ships in the wheel."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kazft.notice import AI_NOTICE
from kazft.serve import page

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "kazft" / "serve" / "static"


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(page.router)
    return TestClient(app)


def test_index_and_assets_carry_a_csp_that_allows_only_this_server(client: TestClient):
    for path in ["/", *(f"/ui/{name}" for name in page.ASSETS), "/ui/config.json"]:
        r = client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert (
            "default-src 'none'" in csp
            and "connect-src 'self'" in csp
            and "script-src 'self'" in csp
        )
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/").headers["content-type"].startswith("text/html")
    assert client.get("/ui/app.js").headers["content-type"].startswith("text/javascript")


def test_only_listed_assets_are_served(client: TestClient):
    for path in ["/ui/index.html.bak", "/ui/..%2Fpage.py", "/ui/../page.py", "/ui/page.py", "/ui/"]:
        assert client.get(path).status_code == 404, path
    # Every shipped file is either the page or a listed asset, and every listed asset exists.
    assert {p.name for p in STATIC.iterdir()} == {"index.html", *page.ASSETS}


def test_config_gives_the_notice_from_kazft_notice(client: TestClient):
    cfg = client.get("/ui/config.json").json()
    assert cfg["notice"] == AI_NOTICE
    assert cfg["languages"] == ["kk", "ru", "en"]


def test_the_page_names_no_other_origin():
    """No URL of another host anywhere in the shipped page (the CSP would block it anyway)."""
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', ""), path.name
        assert "https://" not in text and "//cdn" not in text, path.name
        # Model and user text never reach innerHTML/outerHTML/insertAdjacentHTML/document.write.
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (path.name, sink)


def test_the_wheel_ships_the_static_files():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = data["tool"]["setuptools"]["package-data"]
    patterns = globs.get("kazft.serve", []) + globs.get("*", [])
    for path in STATIC.iterdir():
        rel = path.relative_to(ROOT / "kazft" / "serve").as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel


def test_a_missing_browser_fails_on_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch):
    from kazft import system

    from .browser import browser_paths

    monkeypatch.setattr(system, "chromium_paths", lambda: (None, "/usr/bin/chromedriver"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI never skips"):
        browser_paths()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        browser_paths()
