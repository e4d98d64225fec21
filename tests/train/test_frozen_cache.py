"""The frozen-layer cache (kazft.train.frozen_cache): the same numbers, never a
stale or damaged entry.

LoRA on the top 2 of the tiny model's 6 layers: the cache holds the state
entering layer 4. Runs cover two epochs (10 micro-batches per epoch, 10 steps
of 2), so the second epoch reads every row it trains from the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import pytest

from kazft.errors import Interrupted
from kazft.train.frozen_cache import FOLDER
from kazft.train.trainer import train

from .test_trainer import StopAt
from .train_helpers import make_recipe

OVER = {"train": {"iters": 10, "save_every": 5, "eval_every": 4}}


def _run(qa: Path, out: Path, cache: str, resume: str | None = None, **over):
    recipe = make_recipe(qa, out, train={**OVER["train"], "frozen_cache": cache}, **over)
    logs: list[str] = []
    result = train(recipe, resume=resume, progress=None, log=logs.append)
    return result, logs


def _adapter(run) -> bytes:
    return (run.run_dir / "adapters" / "adapters.safetensors").read_bytes()


def _cache_line(logs: list[str]) -> str:
    return next(line for line in logs if line.startswith("frozen-layer cache: ") and "rows" in line)


@pytest.fixture(scope="module")
def without(qa_file: Path, tmp_path_factory: pytest.TempPathFactory):
    return _run(qa_file, tmp_path_factory.mktemp("off") / "run", "off")


@pytest.mark.parametrize("over", [{}], ids=["plain"])
def test_cached_run_equals_uncached_run_bit_for_bit(qa_file, tmp_path, without, over):
    off, _ = without
    on, logs = _run(qa_file, tmp_path / "run", "on", **over)
    assert on.losses == off.losses  # every step's loss, exactly
    assert (on.val_loss, on.test_loss) == (off.val_loss, off.test_loss)
    assert _adapter(on) == _adapter(off)
    line = _cache_line(logs)
    assert " 0 rows read" not in line, line  # the second epoch did read the cache
    assert any(line.startswith("frozen-layer cache on") and "expected size" in line for line in logs)
    assert not (on.run_dir / FOLDER).exists()  # removed once the run completed
