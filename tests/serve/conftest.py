"""Fixtures for the server tests: two adapters on the tiny 4-bit Gemma 3, served over
real HTTP on 127.0.0.1 (uvicorn in a thread, a free port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.generate.gen_helpers import write_run


@pytest.fixture(scope="session")
def serve_tiny(embedded_tiny: Path) -> Path:
    """kazft:tiny in the session's KAZFT_HOME (the runs below name it as their base)."""
    return embedded_tiny


@pytest.fixture(scope="session")
def serve_runs(serve_tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two QLoRA runs (4-bit base) with different adapter weights: civil and labour."""
    root = tmp_path_factory.mktemp("serve_runs")
    q = "{bits: 4, group_size: 64}"
    return {
        "civil": write_run(serve_tiny, root / "civil", quantize=q, seed=1),
        "labour": write_run(serve_tiny, root / "labour", quantize=q, seed=5),
    }


@pytest.fixture(scope="session")
def registry(serve_runs: dict[str, Path]) -> Any:
    from kazft.serve.registry import load_registry

    return load_registry(adapters=[f"{name}={path}" for name, path in serve_runs.items()])


class Served:
    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url

    def client(self, **kw: Any) -> Any:
        from openai import OpenAI

        return OpenAI(base_url=self.url + "/v1", api_key=kw.pop("api_key", "none"), **kw)


@contextmanager
def serving(registry: Any, **settings: Any) -> Iterator[Served]:
    import uvicorn

    from kazft.serve.app import create_app
    from kazft.serve.limits import ServeSettings

    app = create_app(registry, ServeSettings(**settings))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield Served(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def server(registry: Any) -> Iterator[Served]:
    """The default settings: loopback, no key, batch 8, queue 16."""
    with serving(registry) as s:
        yield s


@pytest.fixture
def serve_with(registry: Any) -> Callable:
    """A server with other settings, for one test (the shared one stays idle meanwhile)."""
    return lambda **settings: serving(registry, **settings)
