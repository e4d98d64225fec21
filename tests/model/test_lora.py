"""LoRA from the recipe: shapes, counts and sizes from the real tensors, mlx-lm format."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import mlx_lm
import pytest
from mlx.utils import tree_flatten

from kazft.errors import ModelError
from kazft.model.lora import (
    adapter_config,
    adapter_weights,
    apply_lora,
    count_parameters,
    serialize_adapter,
    summarize,
)
from kazft.recipe import LoraSection, Recipe


def _loaded(folder: Path, lora: LoraSection):
    model, _ = mlx_lm.load(str(folder))
    mx.random.seed(0)
    apply_lora(model, lora)
    return model


def test_rank_64_gives_the_documented_shapes_on_the_last_layers(tiny_dir):
    model = _loaded(
        tiny_dir,
        LoraSection(rank=64, alpha=16, layers=2, targets=["q_proj", "k_proj", "down_proj"]),
    )
    w = adapter_weights(model)
    pre = "language_model.model.layers"
    # tiny: hidden 128, 4 heads x 32 = 128 (q), 2 kv heads x 32 = 64 (k), mlp 256
    assert w[f"{pre}.5.self_attn.q_proj.lora_a"].shape == (128, 64)
    assert w[f"{pre}.5.self_attn.q_proj.lora_b"].shape == (64, 128)
    assert w[f"{pre}.4.self_attn.k_proj.lora_b"].shape == (64, 64)
    assert w[f"{pre}.4.mlp.down_proj.lora_a"].shape == (256, 64)
    assert {k.split(".")[3] for k in w} == {"4", "5"}  # only the last 2 of 6 layers
    assert all(not mx.any(v).item() for k, v in w.items() if k.endswith("lora_b"))
    lora = model.language_model.model.layers[5].self_attn.q_proj
    assert lora.scale == 16 / 64


def test_trainable_count_and_file_size_are_those_of_the_written_file(tiny_dir, tmp_path):
    model = _loaded(tiny_dir, LoraSection(rank=64, alpha=16, layers=6))
    s = summarize(model)
    # 6 layers x rank 64 x (in + out): q 128+128, k 128+64, v 128+64, o 128+128
    assert s.trainable == 6 * 64 * (256 + 192 + 192 + 256) == 344_064
    assert s.tensors == 6 * 4 * 2
    path = tmp_path / "adapters.safetensors"
    mx.save_safetensors(str(path), adapter_weights(model))
    assert s.adapter_bytes == path.stat().st_size
    on_disk = mx.load(str(path))
    assert sum(v.size for v in on_disk.values()) == s.trainable
    assert path.read_bytes() == serialize_adapter(adapter_weights(model))


def test_total_counts_quantised_weights_as_their_values(tiny_dirs):
    from kazft.model.quantize import prepare_base
    from kazft.recipe import ModelSection

    full, _ = mlx_lm.load(str(tiny_dirs["gemma3"]))
    base = prepare_base(ModelSection(base=str(tiny_dirs["gemma3"])), log=lambda s: None)
    quant, _ = mlx_lm.load(str(base.folder))
    n_full = sum(v.size for _, v in tree_flatten(full.parameters()))
    assert count_parameters(quant) == count_parameters(full) == n_full
    mx.random.seed(0)
    apply_lora(quant, LoraSection(rank=8, layers=1, targets=["q_proj"]))
    assert count_parameters(quant) == n_full + 8 * (128 + 128)
    assert summarize(quant).share == pytest.approx(2048 / (n_full + 2048))


def test_more_layers_than_the_model_has_is_an_error(tiny_dir):
    model, _ = mlx_lm.load(str(tiny_dir))
    with pytest.raises(ModelError, match="only 6 decoder layers"):
        apply_lora(model, LoraSection(layers=16))


def test_adapter_config_is_mlx_lm_format_and_loads_back(tiny_dir, tmp_path):
    recipe = Recipe.model_validate(
        {
            "model": {"base": "kazft:tiny"},
            "data": {"train": "x.jsonl"},
            "lora": {
                "rank": 4,
                "alpha": 8,
                "dropout": 0.0,
                "layers": 3,
                "targets": ["v_proj", "up_proj"],
            },
            "output": {"dir": "out"},
        }
    )
    model = _loaded(tiny_dir, recipe.lora)
    # Give the adapter a non-zero effect, save it as the trainer does, load with mlx-lm.
    for _, m in model.named_modules():
        if hasattr(m, "lora_b"):
            m.lora_b = mx.full(m.lora_b.shape, 0.05)
    cfg = adapter_config(recipe)
    assert cfg["lora_parameters"] == {
        "rank": 4,
        "scale": 2.0,
        "dropout": 0.0,
        "keys": ["self_attn.v_proj", "mlp.up_proj"],
    }
    (tmp_path / "adapter_config.json").write_text(json.dumps(cfg))
    (tmp_path / "adapters.safetensors").write_bytes(serialize_adapter(adapter_weights(model)))
    loaded, _ = mlx_lm.load(str(tiny_dir), adapter_path=str(tmp_path))
    x = mx.array([[2, 105, 300, 400, 500]])
    model.eval()
    assert mx.allclose(loaded(x), model(x), atol=1e-5)
    assert not mx.allclose(loaded(x), mlx_lm.load(str(tiny_dir))[0](x), atol=1e-3)
