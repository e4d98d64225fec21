"""Quantise once, cache by source and settings, reuse; refuse mismatches."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx_lm
import pytest

from kazft.errors import ModelError
from kazft.model import quantize as qz
from kazft.recipe import ModelSection


def _section(base: Path | str, bits: int | None = 4, group_size: int = 64) -> ModelSection:
    q = None if bits is None else {"bits": bits, "group_size": group_size}
    return ModelSection(base=str(base), quantize=q)


@pytest.fixture()
def source(tiny_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model (tests below touch its files)."""
    return Path(shutil.copytree(tiny_dir, tmp_path / "tiny"))


def test_quantises_once_into_the_cache_and_reuses_it(source):
    first = qz.prepare_base(_section(source), log=lambda s: None)
    assert first.created and first.cached
    assert first.folder.parent == qz.cache_dir()
    assert first.folder.name.startswith("tiny-q4g64-")
    cfg = json.loads((first.folder / "config.json").read_text())
    assert cfg["quantization"] == {"group_size": 64, "bits": 4, "mode": "affine"}
    model, tok = mlx_lm.load(str(first.folder))
    q_proj = model.language_model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, nn.QuantizedLinear) and q_proj.bits == 4
    assert tok.encode("Сәлем")  # the tokenizer came along
    mtime = (first.folder / "model.safetensors").stat().st_mtime_ns
    again = qz.prepare_base(_section(source), log=lambda s: None)
    assert again.folder == first.folder and not again.created
    assert (again.folder / "model.safetensors").stat().st_mtime_ns == mtime


def test_the_key_depends_on_settings_and_source(source):
    a = qz.prepare_base(_section(source, 4), log=lambda s: None)
    b = qz.prepare_base(_section(source, 8), log=lambda s: None)
    c = qz.prepare_base(_section(source, 4, 32), log=lambda s: None)
    assert len({a.key, b.key, c.key}) == 3
    shard = next(source.glob("model-*.safetensors"))
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 10**9))
    d = qz.prepare_base(_section(source, 4), log=lambda s: None)
    assert d.key != a.key and d.created  # edited weights are never served from the cache


def test_quantised_weights_match_mlx_quantisation_of_the_source(source):
    base = qz.prepare_base(_section(source), log=lambda s: None)
    q_model, _ = mlx_lm.load(str(base.folder))
    f_model, _ = mlx_lm.load(str(source))
    w = f_model.language_model.model.layers[2].mlp.down_proj.weight
    qw, scales, biases = mx.quantize(w, group_size=64, bits=4)
    got = q_model.language_model.model.layers[2].mlp.down_proj
    assert mx.array_equal(got.weight, qw) and mx.array_equal(got.scales, scales)
    assert mx.array_equal(got.biases, biases)


def test_an_already_quantised_model_is_used_as_is_or_refused(source):
    cached = qz.prepare_base(_section(source), log=lambda s: None).folder
    same = qz.prepare_base(_section(cached), log=lambda s: None)
    assert (
        same.folder == cached
        and not same.cached
        and same.quantization == {"bits": 4, "group_size": 64}
    )
    with pytest.raises(ModelError, match="already quantised to 4 bits, group size 64.*8 bits"):
        qz.prepare_base(_section(cached, 8), log=lambda s: None)
    with pytest.raises(ModelError, match="model.quantize: null"):
        qz.prepare_base(_section(cached, None), log=lambda s: None)


def test_quantize_null_trains_on_the_original(source):
    base = qz.prepare_base(_section(source, None), log=lambda s: None)
    assert base.folder == source and base.quantization is None and base.key is None


def test_a_failed_quantisation_leaves_no_cache_entry(source, monkeypatch):
    import mlx_lm.utils

    def boom(*a, **k):
        raise RuntimeError("crash while writing")

    monkeypatch.setattr(mlx_lm.utils, "save_config", boom)
    with pytest.raises(RuntimeError):
        qz.prepare_base(_section(source, 6), log=lambda s: None)
    assert not [p for p in qz.cache_dir().iterdir() if "q6g64" in p.name]


def test_embedded_tiny_goes_through_the_same_cache():
    base = qz.prepare_base(_section("kazft:tiny"), log=lambda s: None)
    assert base.folder.name.startswith("kazft-tiny-q4g64-")
    assert (base.folder / qz.MARKER).is_file()
