"""The frozen-layer cache's files: keys, integrity, namespaces, size limit, policy."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kazft.train.frozen_cache import fingerprint, plan, row_lengths
from kazft.train.frozen_store import FrozenStore, decode, encode

from .train_helpers import make_recipe, synthetic_batch

NS = {"base": "a", "quantization": {"bits": 4, "group_size": 64}, "dtype": "bfloat16", "layer": 4}
TOKENS = np.array([2, 10, 11, 12], np.int32)


def _row(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**16, (4, 8), dtype=np.uint16)  # bf16 bits


def test_entry_round_trips_and_keys_separate_rows_modes_and_segments(tmp_path):
    store = FrozenStore(tmp_path, NS, 10**6)
    key = store.key("train", TOKENS, None)
    assert store.put(key, _row(), "bfloat16")
    assert np.array_equal(store.get(key, (4, 8), "bfloat16"), _row())
    others = {
        store.key("eval", TOKENS, None),
        store.key("train", TOKENS[:3], None),
        store.key("train", TOKENS + 1, None),
        store.key("train", TOKENS, np.array([1, 1, 2, 2])),
        store.key("train", TOKENS, np.array([1, 2, 2, 2])),
    }
    assert key not in others and len(others) == 5
    assert store.get(store.key("eval", TOKENS, None), (4, 8), "bfloat16") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-2],  # truncated
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # one bit of the data
        lambda b: b + b"\0",  # longer than its header says
        lambda b: b[:20] + b"X" + b[21:],  # the header
        lambda b: b"",
    ],
    ids=["truncated", "bit-flip", "extended", "header", "empty"],
)
def test_damaged_file_is_never_used_and_is_deleted(tmp_path, damage):
    store = FrozenStore(tmp_path, NS, 10**6)
    key = store.key("train", TOKENS, None)
    store.put(key, _row(), "bfloat16")
    path = store.path(key)
    path.write_bytes(damage(path.read_bytes()))
    assert store.get(key, (4, 8), "bfloat16") is None
    assert store.stats.corrupt == 1 and not path.exists()
    assert store.put(key, _row(), "bfloat16")  # recomputed and written again
    assert np.array_equal(store.get(key, (4, 8), "bfloat16"), _row())


def test_an_entry_for_another_row_shape_or_dtype_is_refused():
    blob = encode(_row(), "bfloat16", {"key": "k"})
    assert decode(blob, "bfloat16", (4, 8), "k") is not None
    assert decode(blob, "bfloat16", (5, 8), "k") is None  # another length
    assert decode(blob, "float16", (4, 8), "k") is None
    assert decode(blob, "bfloat16", (4, 8), "other") is None  # a file under the wrong name


@pytest.mark.parametrize(
    "change",
    [
        {"base": "b"},
        {"quantization": {"bits": 8, "group_size": 64}},
        {"quantization": None},
        {"tokenizer": "other"},
        {"dtype": "float32"},
        {"layer": 3},
    ],
)
def test_a_changed_namespace_never_reads_a_stale_entry(tmp_path, change):
    old = FrozenStore(tmp_path, NS, 10**6)
    key = old.key("train", TOKENS, None)
    old.put(key, _row(), "bfloat16")
    stale = old.path(key).read_bytes()
    new = FrozenStore(tmp_path, {**NS, **change}, 10**6)
    new_key = new.key("train", TOKENS, None)
    assert new_key != key
    assert not old.dir.exists() and new.removed_stale == [old.namespace]  # freed, too
    assert new.get(new_key, (4, 8), "bfloat16") is None
    # Even the stale file put where the new entry belongs is refused (its key).
    new.path(new_key).parent.mkdir(parents=True)
    new.path(new_key).write_bytes(stale)
    assert new.get(new_key, (4, 8), "bfloat16") is None and new.stats.corrupt == 1


def test_size_limit_stops_writing(tmp_path):
    one = len(encode(_row(), "bfloat16", {"key": "x" * 40, "namespace": "n" * 20}))
    store = FrozenStore(tmp_path, NS, 2 * one + 10)
    keys = [store.key("train", TOKENS + i, None) for i in range(3)]
    assert [store.put(k, _row(), "bfloat16") for k in keys] == [True, True, False]
    assert store.stats.over_budget == 1 and store.size_on_disk() <= 2 * one + 10
    assert FrozenStore(tmp_path, NS, 10**6).used == store.size_on_disk()  # counted on reopen


def _tiny_base(tmp_path: Path):
    from kazft.model.quantize import BaseModel

    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (folder / name).write_text(name)
    return BaseModel(folder, folder, {"bits": 4, "group_size": 64}, cached=True, key="k")


def test_fingerprint_changes_with_weights_tokenizer_quantisation_dtype_layer(tmp_path):
    base = _tiny_base(tmp_path)
    ref = fingerprint(base, "bfloat16", 4)
    assert fingerprint(base, "bfloat16", 4) == ref
    assert fingerprint(base, "float32", 4) != ref
    assert fingerprint(base, "bfloat16", 5) != ref
    assert (
        fingerprint(replace(base, quantization={"bits": 8, "group_size": 64}), "bfloat16", 4) != ref
    )
    assert fingerprint(replace(base, key="other"), "bfloat16", 4) != ref
    (base.folder / "tokenizer.json").write_text("a changed vocabulary")
    assert fingerprint(base, "bfloat16", 4) != ref
    ref = fingerprint(base, "bfloat16", 4)
    weights = base.folder / "model.safetensors"
    os.utime(weights, ns=(1, 1))  # rewritten weights: another modification time
    assert fingerprint(base, "bfloat16", 4) != ref


def test_row_lengths_come_from_the_batch_or_its_padding():
    batch = synthetic_batch([[2, 5, 6, 7, 8], [2, 9, 9]])
    assert row_lengths(batch).tolist() == [4, 2]
    batch.lengths = np.array([4, 3])
    assert row_lengths(batch).tolist() == [4, 3]


class _Data:
    def __init__(self, per_epoch: int) -> None:
        self.batches_per_epoch = per_epoch
        self.valid: list = []

    def batch(self, i: int):
        return synthetic_batch([[2, 5, 6, 7, 8]])


@pytest.mark.parametrize(
    ("setting", "per_epoch", "gb", "on"),
    [
        ("auto", 4, 20, True),  # 6 steps x 2 micro-batches = 3 epochs
        ("auto", 12, 20, False),  # exactly one epoch
        ("auto", 4, 1e-9, False),  # over the size limit
        ("on", 12, 1e-9, True),
        ("off", 4, 20, False),
    ],
)
def test_policy(tmp_path, qa_file, tiny_lora_model, setting, per_epoch, gb, on):
    recipe = make_recipe(
        qa_file, tmp_path / "run", train={"frozen_cache": setting, "frozen_cache_gb": gb}
    )
    p = plan(recipe, tiny_lora_model, _Data(per_epoch), tmp_path / "run")
    assert p.on is on, p.why
    assert p.start == 4  # lora.layers 2 of the tiny model's 6
    if setting != "off":
        assert p.expected == 4 * per_epoch * 128 * 4 + per_epoch * 256  # float32 tiny


@pytest.fixture(scope="module")
def tiny_lora_model(qa_file, tmp_path_factory):
    from kazft.train.setup import load_model

    recipe = make_recipe(qa_file, tmp_path_factory.mktemp("m") / "run")
    model = load_model(recipe, False, lambda s: None).model
    return model


def test_bfloat16_rows_round_trip_bit_for_bit(tmp_path, qa_file):
    """The real model's activation dtype: rows read back as they were written."""
    import mlx.core as mx

    from kazft.train.frozen_cache import FrozenCache, activation_dtype
    from kazft.train.setup import load_model

    model = load_model(make_recipe(qa_file, tmp_path / "run"), False, lambda s: None).model
    model.set_dtype(mx.bfloat16)  # the scales, hence the embedding's output
    assert activation_dtype(model) == "bfloat16"
    cache = FrozenCache(model, FrozenStore(tmp_path / "c", NS, 10**9), 4, "bfloat16")
    batch = synthetic_batch([[2, 5, 6, 7, 8, 9, 10], [2, 9, 9, 11]])
    computed = cache.inputs(batch)
    read = cache.inputs(batch)
    assert cache.store.stats.written == 2 and cache.store.stats.hits == 2
    assert read.dtype == mx.bfloat16 and read.shape == computed.shape
    for b, n in enumerate(row_lengths(batch).tolist()):
        assert mx.array_equal(read[b, :n], computed[b, :n]).item()
        assert not mx.any(read[b, n:]).item()  # padding reads as zeros


def test_a_failed_write_stops_writing_but_not_training(tmp_path, monkeypatch):
    import kazft.train.frozen_store as fs

    store = FrozenStore(tmp_path, NS, 10**6)

    def full(path, data, fsync=True):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fs, "atomic_write", full)
    keys = [store.key("train", TOKENS + i, None) for i in range(2)]
    assert [store.put(k, _row(), "bfloat16") for k in keys] == [False, False]
    assert "No space left" in (store.stats.write_error or "")
    assert store.get(keys[0], (4, 8), "bfloat16") is None  # a miss: recomputed


def test_overwrite_removes_the_cache_with_the_run(qa_file, tmp_path):
    from kazft.train.frozen_cache import FOLDER
    from kazft.train.setup import prepare_output

    recipe = make_recipe(qa_file, tmp_path / "run")
    FrozenStore(tmp_path / "run" / FOLDER, NS, 10**6).put("k" * 40, _row(), "bfloat16")
    prepare_output(recipe, None, overwrite=True)
    assert not (tmp_path / "run" / FOLDER).exists()
