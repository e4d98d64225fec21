"""What machine this is: platform, MLX device, memory and cache locations.

Used by ``kazft doctor`` and by the trainer's memory estimate. Everything is
read from the system at call time; nothing is assumed from the platform name.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path


def hf_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface") / "hub"


def memory_bytes() -> tuple[int | None, int | None]:
    """(total, available) physical memory in bytes, or None where unknown."""
    if sys.platform.startswith("linux"):
        info: dict[str, int] = {}
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    info[key] = int(rest.split()[0]) * 1024
        except OSError:
            return None, None
        return info.get("MemTotal"), info.get("MemAvailable")
    if sys.platform == "darwin":
        import subprocess

        def sysctl(name: str) -> int | None:
            try:
                out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True)
                return int(out.stdout.strip())
            except (OSError, ValueError):
                return None

        total = sysctl("hw.memsize")
        try:
            vm = subprocess.run(["vm_stat"], capture_output=True, text=True).stdout
        except OSError:
            return total, None
        page = 16384
        pages = 0
        for line in vm.splitlines():
            if "page size of" in line:
                page = int(line.split("page size of")[1].split()[0])
            # Free, inactive and speculative pages can be handed to a new process.
            if line.startswith(("Pages free", "Pages inactive", "Pages speculative")):
                pages += int(line.split(":")[1].strip().rstrip("."))
        return total, pages * page if pages else None
    return None, None


@dataclass
class MlxInfo:
    version: str
    default_device: str
    metal: bool
    cuda: bool
    device_info: dict = field(default_factory=dict)


def mlx_info() -> MlxInfo:
    import mlx.core as mx

    metal = bool(getattr(mx, "metal", None) and mx.metal.is_available())
    cuda = bool(getattr(mx, "cuda", None) and mx.cuda.is_available())
    dev = mx.default_device()
    info: dict = {}
    if metal or cuda:
        try:
            info = dict(mx.device_info())
        except (AttributeError, RuntimeError):
            info = {}
    kind = "gpu" if dev.type == mx.DeviceType.gpu else "cpu"
    return MlxInfo(getattr(mx, "__version__", "unknown"), kind, metal, cuda, info)


def platform_summary() -> dict[str, str]:
    mac = platform.mac_ver()[0]
    return {
        "system": f"macOS {mac}" if mac else f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": f"{platform.python_version()} ({sys.executable})",
        "cpus": str(os.cpu_count()),
    }


# The web chat's browser tests drive the system Chromium (Debian's chromium and
# chromium-driver); `kazft doctor` names them with their install line.
CHROMIUM_INSTALL = (
    "apt-get install chromium chromium-driver (Debian/Ubuntu); "
    "brew install --cask chromium && brew install chromedriver (macOS)"
)


def chromium_paths() -> tuple[str | None, str | None]:
    """(chromium, chromedriver) on PATH, None for each one missing."""
    import shutil

    browser = next(
        (p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None
    )
    return browser, shutil.which("chromedriver")
