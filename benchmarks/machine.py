"""What the numbers were measured on: CPU, cores, memory, device, versions, date.

Read from the system at run time (``/proc/cpuinfo``, ``sysctl`` on macOS,
``mx.default_device()``); nothing is assumed from the platform name.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            return out.stdout.strip() or platform.processor()
        except (OSError, subprocess.SubprocessError):
            return platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def describe() -> dict:
    """The machine and software, as one JSON-able dict."""
    import mlx.core as mx

    from kazft.system import memory_bytes

    total, available = memory_bytes()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "date": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "platform": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(total / 1024**3, 1) if total else None,
        "memory_available_gib": round(available / 1024**3, 1) if available else None,
        "load_average": [round(x, 2) for x in load] if load else None,
        "device": str(mx.default_device()),
        "metal": bool(getattr(mx, "metal", None) and mx.metal.is_available()),
        "python": platform.python_version(),
        "mlx": _version("mlx"),
        "mlx_lm": _version("mlx-lm"),
        "transformers": _version("transformers"),
        "kazft": _version("kazft"),
        "commit": _git_commit(),
    }


def one_line(m: dict) -> str:
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['device']} "
        f"({m['platform']}); mlx {m['mlx']}, mlx-lm {m['mlx_lm']}, kazft {m['kazft']}"
    )
