"""Run each measurement in its own process, alternate the tools, take medians.

Every run is a fresh ``python -m benchmarks.child KIND SPEC.json``: the
process's peak RSS is its own (read by the child from its own memory map, see
``benchmarks.child``; ``os.wait4``'s figure is kept as ``rss_wait4_bytes``),
MLX's peak counter (``mx.get_peak_memory()``) is read inside the child, and no
run inherits another's caches or compiled graphs. The child prints one line
``BENCH_RESULT {json}``; everything else it prints goes to a log file.

Tools alternate within a repeat and the order flips every repeat (A B, B A,
A B, ...) so slow drift of a shared machine does not favour either side.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.machine import ROOT

RESULT_TAG = "BENCH_RESULT "


@dataclass
class Run:
    label: str  # e.g. "kazft" or "mlx-lm"
    kind: str  # a child kind (benchmarks.child.KINDS)
    spec: dict[str, Any]


@dataclass
class Outcome:
    label: str
    results: list[dict[str, Any]] = field(default_factory=list)  # one per repeat (ok runs)
    errors: list[str] = field(default_factory=list)


def max_rss_bytes(ru_maxrss: int) -> int:
    return ru_maxrss if sys.platform == "darwin" else ru_maxrss * 1024  # Linux: KiB


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.update(extra or {})
    return env


def run_child(
    kind: str,
    spec: dict[str, Any],
    logdir: Path,
    name: str,
    timeout: float,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One child process; its result dict plus ``wall_s``, ``rss_peak_bytes``
    and ``log``. Raises RuntimeError (with the log's tail) when it fails."""
    logdir.mkdir(parents=True, exist_ok=True)
    spec_path = logdir / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log_path = logdir / f"{name}.log"
    cmd = [sys.executable, "-m", "benchmarks.child", kind, str(spec_path)]
    t0 = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=child_env(env),
            start_new_session=True,
        )
        status, ru, timed_out = 0, None, False
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group
                _, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    text = log_path.read_text(encoding="utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith(RESULT_TAG)]
    if timed_out or proc.returncode != 0 or not lines:
        why = f"timed out after {timeout:.0f} s" if timed_out else f"exit code {proc.returncode}"
        tail = "\n".join(text.splitlines()[-15:])
        raise RuntimeError(f"{kind} ({name}) failed: {why}; log {log_path}:\n{tail}")
    result = json.loads(lines[-1][len(RESULT_TAG) :])
    result["wall_s"] = round(wall, 3)
    result["rss_wait4_bytes"] = max_rss_bytes(ru.ru_maxrss) if ru is not None else None
    result["rss_peak_bytes"] = result["rss_self_bytes"]
    result["log"] = str(log_path.relative_to(ROOT) if log_path.is_relative_to(ROOT) else log_path)
    return result


def alternate(
    runs: Sequence[Run],
    repeats: int,
    logdir: Path,
    case: str,
    timeout: float,
    log: Callable[[str], None] = print,
    concurrent: bool = False,
) -> dict[str, Outcome]:
    """``repeats`` rounds over ``runs``, order reversed every other round;
    ``concurrent``: the runs of a round start together (memory-bound cases on a
    machine where one run of each would otherwise take hours)."""
    out = {r.label: Outcome(r.label) for r in runs}

    def one(r: Run, rep: int) -> None:
        name = f"{case}.{r.label}.r{rep}"
        t0 = time.perf_counter()
        try:
            res = run_child(r.kind, r.spec, logdir, name, timeout)
        except RuntimeError as err:
            out[r.label].errors.append(str(err))
            log(f"  {name}: FAILED ({str(err).splitlines()[0]})")
            return
        res["concurrent"] = concurrent
        out[r.label].results.append(res)
        log(f"  {name}: {time.perf_counter() - t0:.1f} s")

    for rep in range(repeats):
        order = list(runs) if rep % 2 == 0 else list(reversed(runs))
        if concurrent:
            with ThreadPoolExecutor(len(order)) as pool:
                list(pool.map(one, order, [rep] * len(order)))
        else:
            for r in order:
                one(r, rep)
    return out


def median(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


def medians(results: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, float | None]:
    """The median of each key over the repeats (None where no run has it)."""
    return {k: median([r.get(k) for r in results]) for k in keys}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b
