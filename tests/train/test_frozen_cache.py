"""The frozen-layer cache (kazft.train.frozen_cache): the same numbers, never a
stale or damaged entry.

LoRA on the top 2 of the tiny model's 6 layers: the cache holds the state
entering layer 4. Runs cover two epochs (10 micro-batches per epoch, 10 steps
of 2 accumulated micro-batches), so the second epoch reads every row it trains
from the cache, and validation (every 4 steps) reads its rows from the second
evaluation on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kazft.errors import Interrupted
from kazft.train.frozen_cache import FOLDER
from kazft.train.trainer import train

from .test_trainer import StopAt
from .train_helpers import make_recipe

SETTINGS = {
    "plain": {},
    # Packed rows, recompute in the backward pass, dropout keys through both.
    "packed-checkpointed": {
        "data": {"packing": True, "max_seq_length": 128},
        "train": {"grad_checkpoint": "on"},
    },
}
_OFF: dict[str, tuple] = {}


def _recipe(qa: Path, out: Path, cache: str, setting: str):
    over = SETTINGS[setting]
    tr = {"iters": 10, "save_every": 5, "eval_every": 4, "frozen_cache": cache}
    data = over.get("data", {})
    # 21 records of 30-40 tokens packed 3 to a 128-position row: 4 batches per
    # epoch, so 5 steps of 2 cover 2.5 epochs.
    tr |= {"iters": 5} if data else {}
    return make_recipe(qa, out, train={**tr, **over.get("train", {})}, data=data)


def _run(qa: Path, out: Path, cache: str, setting: str = "plain", **kw):
    logs: list[str] = []
    result = train(_recipe(qa, out, cache, setting), progress=None, log=logs.append, **kw)
    return result, logs


def _uncached(qa: Path, root: Path, setting: str) -> tuple:
    if setting not in _OFF:
        _OFF[setting] = _run(qa, root / f"off-{setting}", "off", setting)
    return _OFF[setting]


def _adapter(run) -> bytes:
    return (run.run_dir / "adapters" / "adapters.safetensors").read_bytes()


def _report(logs: list[str]) -> str:
    return next(x for x in logs if x.startswith("frozen-layer cache: ") and "rows read" in x)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("frozen")


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_cached_run_equals_uncached_run_bit_for_bit(qa_file, root, setting):
    off, off_logs = _uncached(qa_file, root, setting)
    on, logs = _run(qa_file, root / f"on-{setting}", "on", setting)
    assert on.losses == off.losses  # every step's loss, exactly
    assert (on.val_loss, on.test_loss) == (off.val_loss, off.test_loss)
    assert _adapter(on) == _adapter(off)
    assert " 0 rows read" not in _report(logs)  # later epochs did read the cache
    assert any(x.startswith("frozen-layer cache on") and "expected size" in x for x in logs)
    assert not any(x.startswith("frozen-layer cache") for x in off_logs)
    assert not (on.run_dir / FOLDER).exists()  # removed once the run completed


def _interrupted(qa: Path, out: Path, cache: str) -> list[str]:
    # Stop after step 6 (12 micro-batches): the second epoch has begun.
    logs: list[str] = []
    recipe = _recipe(qa, out, cache, "plain")
    with pytest.raises(Interrupted):
        train(recipe, callbacks=[StopAt(6)], progress=None, log=logs.append)
    return logs


def test_resume_with_the_cache_equals_resume_without_and_the_full_run(qa_file, root):
    full, _ = _uncached(qa_file, root, "plain")
    for cache in ("on", "off"):
        out = root / f"resume-{cache}"
        logs = _interrupted(qa_file, out, cache)
        assert (out / FOLDER).is_dir() == (cache == "on")  # kept for the resume
        assert any("kept for --resume" in x for x in logs) == (cache == "on")
        resumed, _ = _run(qa_file, out, cache, resume="latest")
        assert {s: v for s, v in full.losses.items() if s > 6} == resumed.losses
        assert _adapter(resumed) == _adapter(full)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_entries_are_detected_and_recomputed(qa_file, root, damage):
    full, _ = _uncached(qa_file, root, "plain")
    out = root / f"damaged-{damage}"
    _interrupted(qa_file, out, "on")
    files = sorted((out / FOLDER).glob("*/*/*.safetensors"))
    assert files
    for f in files:
        blob = bytearray(f.read_bytes())
        if damage == "truncate":
            blob = blob[: len(blob) - 4]
        else:
            blob[-1] ^= 0x01  # one bit of the last value
        f.write_bytes(bytes(blob))
    resumed, logs = _run(qa_file, out, "on", resume="latest")
    report = _report(logs)
    assert " 0 damaged" not in report, report
    assert _adapter(resumed) == _adapter(full)
    assert {s: v for s, v in full.losses.items() if s > 6} == resumed.losses
