"""transformers + PEFT load kazft's exports (the interop group: torch and peft installed).

transformers runs the un-quantised tiny model; MLX runs the same weights + adapter.
"""

from __future__ import annotations

import numpy as np
import pytest

from kazft.export.fused import export_fused
from kazft.export.peft import export_peft
from kazft.export.source import load_source

from .export_helpers import PROMPT, logits

pytestmark = pytest.mark.interop
torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

CLASSES = {"gemma3": "Gemma3ForConditionalGeneration", "gemma3_text": "Gemma3ForCausalLM"}


def hf_model(folder, layout):
    cls = getattr(transformers, CLASSES[layout])
    model, info = cls.from_pretrained(str(folder), dtype=torch.float32, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return model.eval()


def hf_logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([PROMPT])).logits.float().numpy()


def with_peft(run, tmp_path):
    out = export_peft(load_source(run.dir), tmp_path / "peft")
    return peft.PeftModel.from_pretrained(hf_model(run.base, run.layout), str(out)).eval()


@pytest.mark.parametrize("name", ["gemma3", "gemma3_text"])
def test_peft_export_matches_mlx_within_1e_4(runs, base_logits, name, tmp_path):
    run = runs[name]
    model = with_peft(run, tmp_path)
    wrapped = sorted(n for n, _ in model.named_modules() if n.endswith(".lora_A"))
    lm = "model.language_model" if name == "gemma3" else "model"
    assert wrapped == sorted(
        f"base_model.model.{lm}.layers.{i}.{k}.lora_A"
        for i in (2, 3, 4, 5)
        for k in ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj")
    )
    want = logits(run.model)
    diff = np.abs(hf_logits(model) - want).max()
    assert diff < 1e-4, diff
    assert np.abs(want - base_logits[name]).max() > 0.1


def test_fresh_peft_adapter_leaves_transformers_base_unchanged(runs, tmp_path):
    run = runs["fresh"]
    base = hf_logits(hf_model(run.base, "gemma3"))
    assert np.array_equal(hf_logits(with_peft(run, tmp_path)), base)


def test_fused_float32_loads_in_transformers_with_mlx_logits(runs, tmp_path):
    run = runs["gemma3"]
    out = export_fused(load_source(run.dir), tmp_path / "fused", dtype="float32")
    diff = np.abs(hf_logits(hf_model(out, "gemma3")) - logits(run.model)).max()
    assert diff < 1e-4, diff
