"""The fast adapter paths generate exactly what the slow reference generates."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import pytest
from mlx.utils import tree_unflatten

from kazft.artifacts.adapters import resolve_adapter
from kazft.errors import ModelError
from kazft.generate.engine import Sampling
from kazft.generate.fast_lora import InferenceLoRA, apply_adapter
from kazft.generate.prompt import prompt_ids, question_messages
from kazft.generate.source import default_data

from .gen_helpers import QUESTION, write_adapter

N = 16


def _greedy(model, ids: list[int], n: int = N) -> list[int]:
    from mlx_lm.generate import generate_step

    return [t for t, _ in generate_step(mx.array(ids), model, max_tokens=n)]


def _reference(folder: Path, adapter: Path, fuse: bool) -> nn.Module:
    """mlx-lm's own LoRA layers on the same base; fused (de-quantised) when asked."""
    from mlx_lm.tuner.lora import LoRALinear
    from mlx_lm.tuner.utils import load_adapters
    from mlx_lm.utils import load_model

    model, _ = load_model(folder)
    load_adapters(model, str(adapter))
    if fuse:
        fused = [
            (n, m.fuse(dequantize=True))
            for n, m in model.named_modules()
            if isinstance(m, LoRALinear)
        ]
        model.update_modules(tree_unflatten(fused))
    return model


def _ids(engine) -> list[int]:
    return prompt_ids(engine.tokenizer, question_messages(default_data(), QUESTION))[1]


def test_quantised_base_side_path_equals_fused_dequantised_model(engine_for, adapter_dir: Path):
    from kazft.model.quantize import prepare_base
    from kazft.recipe import ModelSection

    eng = engine_for(str(adapter_dir), quantize="4")
    assert (eng.applied.merged, eng.applied.side_path) == (0, 16)  # 4 layers x 4 projections
    assert sum(isinstance(m, InferenceLoRA) for _, m in eng.model.named_modules()) == 16
    ids = _ids(eng)
    ours = eng.generate(ids, Sampling(max_tokens=N, seed=None)).tokens

    folder = prepare_base(
        ModelSection(base=str(eng.folder), quantize={"bits": 4, "group_size": 64})
    ).folder
    ref = _reference(folder, adapter_dir, fuse=True)
    assert not any(
        isinstance(m, nn.QuantizedLinear)
        for n, m in ref.named_modules()
        if n.endswith("layers.5.self_attn.q_proj")
    )  # really de-quantised
    assert ours == _greedy(ref, ids)
    base_only = engine_for(None, quantize="4").generate(ids, Sampling(max_tokens=N)).tokens
    assert ours != base_only  # the adapter matters


def test_unquantised_base_is_merged_and_equals_unfused_lora(
    engine_for, adapter_dir: Path, tiny_dir: Path
):
    eng = engine_for(str(adapter_dir))
    assert (eng.applied.merged, eng.applied.side_path) == (16, 0)
    assert not any(isinstance(m, InferenceLoRA) for _, m in eng.model.named_modules())
    ids = _ids(eng)
    ours = eng.generate(ids, Sampling(max_tokens=N)).tokens
    assert ours == _greedy(_reference(tiny_dir, adapter_dir, fuse=False), ids)
    assert ours != engine_for(None).generate(ids, Sampling(max_tokens=N)).tokens


def test_side_paths_match_the_fused_layers(engine_for, adapter_dir: Path):
    eng = engine_for(str(adapter_dir), quantize="4")
    assert eng.applied.shared_down == 4  # q/k/v of each adapted layer share x @ [A_q|A_k|A_v]
    attn = eng.model.language_model.model.layers[5].self_attn
    weights = mx.load(str(adapter_dir / "adapters.safetensors"))

    def fused(name: str) -> mx.array:
        q = getattr(attn, name).linear
        w = mx.dequantize(q.weight, q.scales, q.biases, group_size=q.group_size, bits=q.bits)
        pre = f"language_model.model.layers.5.self_attn.{name}."
        return w + 2.0 * weights[pre + "lora_b"].T @ weights[pre + "lora_a"].T  # scale 2.0

    x = mx.random.normal((1, 3, 128), key=mx.random.key(0))
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        assert isinstance(getattr(attn, name), InferenceLoRA)
        assert mx.allclose(getattr(attn, name)(x), x @ fused(name).T, atol=1e-5).item(), name
    # Called out of step (another input in between), the shared product is rebuilt.
    x2 = mx.random.normal((1, 2, 128), key=mx.random.key(1))
    assert mx.allclose(attn.k_proj(x2), x2 @ fused("k_proj").T, atol=1e-5).item()
    assert mx.allclose(attn.q_proj(x), x @ fused("q_proj").T, atol=1e-5).item()


def test_adapter_for_another_model_shape_is_refused(tiny_dirs: dict, tmp_path: Path):
    from mlx_lm.utils import load_model

    # Trained on the text-only layout: its names (model.layers...) do not exist in gemma3.
    ad = write_adapter(tiny_dirs["gemma3_text"], tmp_path / "text", base_model="kazft:tiny-text")
    model, _ = load_model(tiny_dirs["gemma3"])
    with pytest.raises(
        ModelError,
        match=r"does not fit this model: the model has no layer "
        r"model\.layers\.0\.self_attn\.k_proj \(and 23 more\).*kazft:tiny-text",
    ):
        apply_adapter(model, resolve_adapter(ad))


def test_adapter_with_wrong_shapes_is_refused(tiny_dir: Path, tmp_path: Path):
    from mlx_lm.utils import load_model

    ad = write_adapter(tiny_dir, tmp_path / "ad", num_layers=1, keys=("self_attn.q_proj",))
    w = mx.load(str(ad / "adapters.safetensors"))
    name = "language_model.model.layers.5.self_attn.q_proj.lora_a"
    w[name] = mx.zeros((256, 8))  # hidden is 128
    mx.save_safetensors(str(ad / "adapters.safetensors"), w)
    model, _ = load_model(tiny_dir)
    with pytest.raises(
        ModelError,
        match=r"layers\.5\.self_attn\.q_proj: adapter shapes "
        r"\(256, 8\) x \(8, 128\) do not fit the layer's 128 inputs",
    ):
        apply_adapter(model, resolve_adapter(ad))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"fine_tune_type": "dora"}, "fine_tune_type 'dora' is not supported"),
        ({"lora_parameters": {"rank": 8}}, "needs 'rank' and 'scale'"),
    ],
)
def test_unsupported_adapter_configs(
    tiny_dir: Path, adapter_dir: Path, cfg: dict, message: str, tmp_path: Path
):
    import shutil

    from mlx_lm.utils import load_model

    model, _ = load_model(tiny_dir)
    ad = Path(shutil.copytree(adapter_dir, tmp_path / "ad"))
    full = {**json.loads((ad / "adapter_config.json").read_text()), **cfg}
    (ad / "adapter_config.json").write_text(json.dumps(full))
    with pytest.raises(ModelError, match=message):
        apply_adapter(model, resolve_adapter(ad))
