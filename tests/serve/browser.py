"""Headless Chromium for the web chat tests, and a server on a thread.

Debian's chromium and chromium-driver through selenium: a fresh profile in a
temporary folder, no background networking, so the only requests the browser
log holds are the page's own. ``make test`` installs both on a Debian/Ubuntu CI
machine; on CI (CI=true) a missing browser fails the tests instead of skipping.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

AXE_JS = None  # set on first use: the axe-core that axe-selenium-python ships


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or a skip (a failure on CI) naming the install line."""
    from kazft import system

    chromium, driver = system.chromium_paths()
    if chromium and driver:
        return chromium, driver
    why = f"browser tests need chromium and chromedriver: {system.CHROMIUM_INSTALL}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(why + " (CI never skips them)")
    pytest.skip(why)


@contextmanager
def chromium(profile: Path, downloads: Path, width: int = 1366, height: int = 860) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = browser_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--lang=kk",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(arg)
    opts.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    # Every network request the page makes, from the DevTools protocol.
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=driver_path)
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        driver.set_script_timeout(30)
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield driver
    finally:
        # quit() ends chromium and the chromedriver process that service started.
        driver.quit()
        service.stop()


def requested_urls(driver: Any) -> list[str]:
    """URLs of every request in the DevTools log since the last call."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def resource_urls(driver: Any) -> list[str]:
    """The page's own account of what it loaded (Resource Timing)."""
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name));"
    )


def axe_violations(driver: Any) -> list[dict]:
    """axe-core's serious and critical findings, injected from the installed file."""
    global AXE_JS
    if AXE_JS is None:
        import axe_selenium_python

        path = Path(axe_selenium_python.__file__).parent / "node_modules/axe-core/axe.min.js"
        AXE_JS = path.read_text(encoding="utf-8")
    driver.execute_script(AXE_JS)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations),"
        " e => done([{id: 'axe-error', impact: 'critical', description: String(e)}]));"
    )
    return [v for v in result if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v.get('description', '')} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in violations
    )


class ServerThread:
    """uvicorn on 127.0.0.1 (or ``host``) with an OS-chosen port, on a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        import uvicorn

        self.host = host
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def lan_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 9))  # no packet is sent: only picks the route's address
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr
