"""Fixtures for the generate tests: adapters, run folders and loaded engines (tiny model)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .gen_helpers import write_adapter, write_run


@pytest.fixture(scope="session")
def adapter_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapter on the last 4 of 6 layers' attention projections, named for tiny_dir."""
    return write_adapter(
        tiny_dir, tmp_path_factory.mktemp("adapter") / "ad", base_model=str(tiny_dir), num_layers=4
    )


@pytest.fixture(scope="session")
def run_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake trainer run on kazft:tiny (unquantised base)."""
    return write_run(tiny_dir, tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture(scope="session")
def qrun_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake QLoRA run on kazft:tiny quantised to 4 bits."""
    return write_run(
        tiny_dir, tmp_path_factory.mktemp("qruns") / "qrun", quantize="{bits: 4, group_size: 64}"
    )


@pytest.fixture(scope="session")
def engine_for(tiny_dir: Path) -> Callable:
    """Load (once per argument set) an Engine for the tiny model."""
    from kazft.generate.engine import load_engine
    from kazft.generate.source import resolve_source

    cache: dict = {}

    def get(adapter: str | None = None, quantize: str = "none", **kw):
        key = (adapter, quantize, tuple(sorted(kw.items())))
        if key not in cache:
            src = resolve_source(
                model=str(tiny_dir), adapter=adapter, quantize=quantize, no_adapter=adapter is None
            )
            cache[key] = load_engine(src, **kw)
        return cache[key]

    return get
