"""``kazft doctor``: what kazft sees of this machine, all measured now."""

from __future__ import annotations

import argparse
import json
from importlib import metadata
from typing import Any

from kazft import __version__, system
from kazft.artifacts.names import kazft_home
from kazft.text.ocr import install_help, tesseract_status


def _gib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 2**30:.1f} GiB"


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect() -> dict[str, Any]:
    total, avail = system.memory_bytes()
    mlx = system.mlx_info()
    tesseract = tesseract_status()
    return {
        "kazft": __version__,
        **system.platform_summary(),
        "mlx": mlx.version,
        "mlx_lm": _version("mlx-lm"),
        "transformers": _version("transformers"),
        "default_device": mlx.default_device,
        "metal_available": mlx.metal,
        "cuda_available": mlx.cuda,
        "accelerator": mlx.device_info.get("device_name", "none"),
        "memory_total_bytes": total,
        "memory_available_bytes": avail,
        "kazft_cache": str(kazft_home()),
        "hf_cache": str(system.hf_cache()),
        # OCR for `kazft data extract` on scans: a system program, not a wheel.
        "tesseract": tesseract.summary(),
        "tesseract_languages": list(tesseract.languages),
        # The web chat's browser tests (developers only): Chromium and its driver.
        "chromium": system.chromium_paths()[0] or "not found",
        "chromedriver": system.chromium_paths()[1] or "not found",
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    from rich.table import Table

    from kazft.console import console as make_console

    table = Table(title="kazft doctor", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in info.items():
        if key == "tesseract_languages":
            continue
        if key.startswith("memory_"):
            key, value = key.removesuffix("_bytes"), _gib(value)
        table.add_row(key.replace("_", " "), str(value))
    console = make_console()  # off a terminal: paths are not cut at 80 columns
    console.print(table)
    if info["default_device"] == "cpu" and not info["metal_available"]:
        console.print(
            "[yellow]MLX runs on the CPU here: fine for tests and the tiny model; "
            "train real models on an Apple Silicon Mac (Metal) or with the `cuda` extra.[/]"
        )
    if "not found" in (info["chromium"], info["chromedriver"]):
        console.print(
            "The web chat's browser tests need Chromium and chromedriver: "
            f"{system.CHROMIUM_INSTALL}. (Needed only to run kazft's own tests.)",
            style="yellow",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    ocr_help = install_help()
    if ocr_help:
        console.print(
            f"{ocr_help} (Needed only to extract text from scans.)",
            style="yellow",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return 0


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
