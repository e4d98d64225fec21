"""`kazft serve` as users start it: argument checks before loading, the startup
banner, and a graceful SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def serve(capsys: Any, monkeypatch: Any, *args: str) -> tuple[int, str]:
    """``kazft serve ARGS`` in this process; loading a model fails the test."""
    from kazft.cli import main

    def no_loading(*a: Any, **k: Any) -> None:
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr("kazft.generate.engine.load_base", no_loading)
    rc = main(["serve", *args])
    return rc, capsys.readouterr().err


def test_non_loopback_bind_without_key_is_refused(
    serve_runs: dict, capsys: Any, monkeypatch: Any
) -> None:
    rc, err = serve(
        capsys, monkeypatch, "--host", "0.0.0.0", "--adapter", f"civil={serve_runs['civil']}"
    )
    assert rc == 2
    assert "--api-key" in err and "--no-auth" in err
    assert "Traceback" not in err
    rc, err = serve(capsys, monkeypatch, "--host", "192.168.1.5", "--api-key", "short")
    assert rc == 2 and "16 characters" in err


def test_argument_errors_are_one_paragraph(serve_runs: dict, capsys: Any, monkeypatch: Any) -> None:
    rc, err = serve(capsys, monkeypatch, "--adapter", str(serve_runs["civil"]))
    assert rc == 2 and "NAME=PATH" in err
    rc, err = serve(capsys, monkeypatch, "--adapter", "a=/no/such/run")
    assert rc == 2 and "not found" in err
    rc, err = serve(capsys, monkeypatch, "--port", "70000", "--adapter", "a=/x")
    assert rc == 2 and "--port" in err
    rc, err = serve(capsys, monkeypatch)
    assert rc == 2 and "nothing to serve" in err


def test_banner_answers_and_graceful_sigterm(serve_runs: dict) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kazft",
            "serve",
            "--port",
            "0",
            "--shutdown-timeout",
            "2",
            "--max-tokens",
            "100000",
            "--adapter",
            f"civil={serve_runs['civil']}",
            "--adapter",
            f"labour={serve_runs['labour']}",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines: list[str] = []
        assert proc.stderr is not None
        while not any("auth" in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        banner = "".join(lines)
        url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert url, banner
        for word in ("model  civil", "model  labour", "memory", "limits", "max_tokens 100000"):
            assert word in banner, banner
        with httpx.Client(base_url=url.group(0), timeout=30) as http:
            assert len(http.get("/v1/models").json()["data"]) == 3
            got: list[str] = []

            def stream() -> None:
                body = {
                    "model": "civil",
                    "max_tokens": 100000,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Сәлем"}],
                }
                with http.stream("POST", "/v1/chat/completions", json=body) as r:
                    got.extend(r.iter_lines())

            t = threading.Thread(target=stream)
            t.start()
            time.sleep(1.0)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            # uvicorn re-raises the signal it handled once shut down: killed by SIGTERM
            # is the conventional exit status of a graceful stop.
            assert proc.wait(30) in (0, -signal.SIGTERM)
            # Finished or cancelled within the deadline; the client's stream ended.
            assert time.monotonic() - t0 < 15
            t.join(10)
            # Cut cleanly at the deadline: a final chunk and [DONE], not a dropped connection.
            lines = [line for line in got if line]
            assert not t.is_alive() and lines and lines[-1] == "data: [DONE]", lines[-3:]
            assert '"finish_reason": "length"' in lines[-2]
        assert proc.stderr.read().count("Finished server process") == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
