"""state.json: every key once, versioned; format-1 files still read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kazft.artifacts.state import FORMAT_VERSION, TrainState, read_state
from kazft.errors import KazftError

# A state.json as kazft wrote it before TrainState (format 1), key for key.
FORMAT_1 = {
    "format": 1,
    "step": 6,
    "iters": 6,
    "data_position": 12,
    "batches_per_epoch": 5,
    "epoch": 2.4,
    "learning_rate": 0.0001,
    "next_learning_rate": 0.0,
    "train_loss": 3.25,
    "val_loss": 3.5,
    "best_val_loss": 3.5,
    "best_step": 6,
    "data_fingerprint": "ab" * 32,
    "train_examples": 10,
    "grad_checkpoint": "none",
    "base_cache_key": None,
    "tokens": 1000,
    "trained_tokens": 400,
    "train_seconds": 1.5,
    "rng_key": [0, 42],
    "versions": {"kazft": "0.1.0", "mlx": "0.29", "mlx_lm": "0.28", "python": "3.11"},
    "saved_at": "2026-12-01T10:00:00+0000",
}


def test_format_1_reads_every_key(tmp_path: Path):
    (tmp_path / "state.json").write_text(json.dumps(FORMAT_1))
    st = read_state(tmp_path)
    assert st.format == FORMAT_VERSION and st.files == {}
    assert {k: v for k, v in st.to_dict().items() if k in FORMAT_1 and k != "format"} == {
        k: v for k, v in FORMAT_1.items() if k != "format"
    }


def test_every_key_round_trips_and_the_format_comes_first():
    st = TrainState(step=3, train_loss=2.5, files={"adapters.safetensors": 10}, rng_key=[1, 2])
    d = json.loads(st.to_json())
    assert next(iter(d)) == "format" and d["format"] == FORMAT_VERSION
    assert TrainState.from_dict(d) == st
    assert set(d) == set(FORMAT_1) | {"files"}


def test_nan_loss_survives_and_a_newer_format_is_refused(tmp_path: Path):
    assert math.isnan(TrainState.from_dict(json.loads(TrainState().to_json())).train_loss)
    (tmp_path / "state.json").write_text(json.dumps({**FORMAT_1, "format": 99}))
    with pytest.raises(KazftError, match="checkpoint format 99; this kazft reads formats 1, 2"):
        read_state(tmp_path)
    (tmp_path / "state.json").write_text("{broken")
    with pytest.raises(KazftError, match="unreadable checkpoint state"):
        read_state(tmp_path)
