"""HTTP plumbing of the serve benchmark: server processes and streaming clients."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout: float = 900) -> None:
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not start in {timeout} s")

    def peak_rss_gb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e9
        except OSError:
            pass
        try:
            import psutil

            return float(psutil.Process(self.proc.pid).memory_info().rss) / 1e9
        except Exception:
            return None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def one_request(url: str, body: dict) -> tuple[float | None, int, int]:
    """(time to first content, completion tokens, prompt tokens) of one streamed request."""
    import httpx

    t0 = time.perf_counter()
    first = None
    chunks = completion = prompt = 0
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                completion = int(data["usage"]["completion_tokens"])
                prompt = int(data["usage"]["prompt_tokens"])
            for c in data.get("choices") or []:
                if (c.get("delta") or {}).get("content"):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter() - t0
    return first, completion or chunks, prompt


def run_clients(url: str, bodies: list[list[dict]]) -> dict:
    """Each client sends its bodies one after another; all clients at once."""
    ttfts: list[float] = []
    tokens: list[int] = []
    prompts: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(mine: list[dict]) -> None:
        for body in mine:
            try:
                first, n, p = one_request(url, body)
            except Exception as err:  # recorded, not hidden
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")
                continue
            with lock:
                if first is not None:
                    ttfts.append(first)
                tokens.append(n)
                prompts.append(p)

    threads = [threading.Thread(target=client, args=(b,)) for b in bodies]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = sorted(ttfts)
    return {
        "requests": len(tokens),
        "errors": errors[:5],
        "generated_tokens": sum(tokens),
        "seconds": wall,
        "tokens_s": sum(tokens) / wall if wall > 0 else None,
        "ttft_p50_s": statistics.median(q) if q else None,
        "ttft_p95_s": q[min(len(q) - 1, int(round(0.95 * (len(q) - 1))))] if q else None,
        "prompt_tokens": sorted(set(prompts)),
    }
