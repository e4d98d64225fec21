"""mlx and PEFT adapter exports: what mlx-lm loads, and the PEFT layout (no torch here)."""

from __future__ import annotations

import json
import re
import sys

import mlx.core as mx
import mlx_lm
import numpy as np
import pytest

from kazft.errors import ModelError
from kazft.export.mlx import export_mlx
from kazft.export.peft import export_peft, target_regex
from kazft.export.source import load_source
from kazft.model.quantize import prepare_base
from kazft.recipe import ModelSection

from .export_helpers import KEYS, build_run, logits


@pytest.mark.parametrize("name", ["gemma3", "gemma3_text"])
def test_mlx_export_gives_mlx_lm_exactly_kazfts_logits(runs, base_logits, name, tmp_path):
    run = runs[name]
    out = export_mlx(load_source(run.dir), tmp_path / "mlx")
    model, _ = mlx_lm.load(str(run.base), adapter_path=str(out))
    assert np.array_equal(logits(model), logits(run.model))
    # ... and the adapter matters: this is not the base compared with itself.
    assert np.abs(logits(run.model) - base_logits[name]).max() > 0.1


def test_mlx_export_of_a_qlora_run_loads_onto_the_quantised_base_exactly(runs, tmp_path):
    run = runs["gemma3_q4"]
    out = export_mlx(load_source(run.dir), tmp_path / "mlx")
    q4 = prepare_base(ModelSection(base=str(run.base), quantize=run.quantize)).folder
    model, _ = mlx_lm.load(str(q4), adapter_path=str(out))
    assert np.array_equal(logits(model), logits(run.model))


def test_mlx_export_keeps_tensors_and_drops_local_paths(runs, tmp_path):
    run = runs["gemma3"]
    out = export_mlx(load_source(run.dir / "checkpoints" / "step-000002"), tmp_path / "mlx")
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapters.safetensors"]
    src = mx.load(str(run.dir / "adapters" / "adapters.safetensors"))
    got = mx.load(str(out / "adapters.safetensors"))
    assert src.keys() == got.keys() and len(got) == 4 * len(KEYS) * 2
    assert all(mx.array_equal(src[k], got[k]) and src[k].dtype == got[k].dtype for k in src)
    text = (out / "adapter_config.json").read_text()
    cfg = json.loads(text)
    # the trainer's config named the base by its absolute path; the export does not
    assert str(run.base) in (run.dir / "adapters" / "adapter_config.json").read_text()
    assert str(run.base.parent) not in text
    assert cfg == {
        "fine_tune_type": "lora",
        "num_layers": 4,
        "lora_parameters": {"rank": 8, "scale": 2.0, "dropout": 0.0, "keys": KEYS},
        "base_model": None,  # a local folder: named (by folder name) only in a bundle manifest
        "revision": None,
        "quantize": None,
    }


def test_mlx_lm_generate_cli_accepts_the_export(runs, tmp_path, monkeypatch, capsys):
    from mlx_lm.generate import main as mlx_generate

    run = runs["gemma3_text"]
    out = export_mlx(load_source(run.dir), tmp_path / "mlx")
    # `mlx_lm.generate --adapter-path OUT ...`, run in-process (a subprocess costs seconds)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "mlx_lm.generate",
            "--model",
            str(run.base),
            "--adapter-path",
            str(out),
            "--prompt",
            "Неке қалай бұзылады?",
            "--max-tokens",
            "6",
            "--temp",
            "0",
            "--verbose",
            "False",
        ],
    )
    mlx_generate()
    got = capsys.readouterr().out
    want = mlx_lm.generate(
        run.model,
        run.tokenizer,
        run.tokenizer.apply_chat_template(
            [{"role": "user", "content": "Неке қалай бұзылады?"}], add_generation_prompt=True
        ),
        max_tokens=6,
    )
    assert got.strip() == want.strip() and want.strip()


def test_fresh_adapter_leaves_the_base_unchanged(runs, base_logits, tmp_path):
    run = runs["fresh"]
    out = export_mlx(load_source(run.dir), tmp_path / "mlx")
    model, _ = mlx_lm.load(str(run.base), adapter_path=str(out))
    assert np.array_equal(logits(model), base_logits["gemma3"])


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("gemma3", "base_model.model.model.language_model.layers."),
        ("gemma3_text", "base_model.model.model.layers."),
    ],
)
def test_peft_tensors_are_transposed_with_peft_names(runs, name, prefix, tmp_path):
    run = runs[name]
    out = export_peft(load_source(run.dir), tmp_path / "peft")
    mlx_w = mx.load(str(run.dir / "adapters" / "adapters.safetensors"))
    peft_w = mx.load(str(out / "adapter_model.safetensors"))
    assert len(peft_w) == len(mlx_w) == 24
    mlx_prefix = "language_model.model.layers." if name == "gemma3" else "model.layers."
    for key, a in mlx_w.items():
        mod = prefix + key.removeprefix(mlx_prefix).rsplit(".", 1)[0]
        if key.endswith(".lora_a"):  # (in, r) -> lora_A.weight (r, in)
            assert peft_w[mod + ".lora_A.weight"].shape == (8, a.shape[0])
            assert mx.array_equal(peft_w[mod + ".lora_A.weight"], a.T)
        else:  # (r, out) -> lora_B.weight (out, r)
            assert mx.array_equal(peft_w[mod + ".lora_B.weight"], a.T)
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert (cfg["peft_type"], cfg["task_type"], cfg["r"], cfg["lora_alpha"]) == (
        "LORA",
        "CAUSAL_LM",
        8,
        16.0,
    )  # alpha = scale x r = 2.0 x 8


def test_peft_target_modules_match_only_the_adapted_language_model_layers(runs, tmp_path):
    out = export_peft(load_source(runs["gemma3"].dir), tmp_path / "peft")
    pattern = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    lm = "model.language_model.layers"
    adapted = [f"{lm}.{i}.{k}" for i in (2, 3, 4, 5) for k in KEYS]
    others = [
        f"{lm}.1.self_attn.q_proj",
        f"{lm}.5.self_attn.k_proj",
        f"{lm}.5.mlp.up_proj",
        "model.vision_tower.encoder.layers.0.self_attn.q_proj",
        "model.vision_tower.vision_model.encoder.layers.0.self_attn.v_proj",
        f"x.{lm}.5.self_attn.q_proj",
        f"{lm}.5.self_attn.q_proj.lora_A",
    ]
    assert all(re.fullmatch(pattern, n) for n in adapted)
    assert not any(re.fullmatch(pattern, n) for n in others)


def test_target_regex_with_different_layers_per_module():
    names = [
        "model.layers.4.self_attn.q_proj",
        "model.layers.5.self_attn.q_proj",
        "model.layers.5.mlp.down_proj",
    ]
    pattern = target_regex(names)
    assert [bool(re.fullmatch(pattern, n)) for n in [*names, "model.layers.4.mlp.down_proj"]] == [
        True,
        True,
        True,
        False,
    ]


def test_source_refusals(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a run folder"):
        load_source(tmp_path / "empty")
    pk = tmp_path / "pickled"
    pk.mkdir()
    (pk / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelError, match=r"pickle-based files \(adapter_model.bin\)"):
        load_source(pk)

    run = build_run(tmp_path / "r", runs["gemma3"].base, "gemma3", num_layers=2)
    cfg_path = run.dir / "adapters" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "fine_tune_type": "dora"}))
    with pytest.raises(ModelError, match="fine_tune_type 'dora'"):
        load_source(run.dir)
    cfg["lora_parameters"]["keys"] = ["self_attn.q_proj"]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="keys"):
        load_source(run.dir)
    w = mx.load(str(run.dir / "adapters" / "adapters.safetensors"))
    w.pop("language_model.model.layers.5.self_attn.q_proj.lora_b")
    ckpt = run.dir / "checkpoints" / "step-000002"
    mx.save_safetensors(str(ckpt / "adapters.safetensors"), w)
    with pytest.raises(ModelError, match=r"self_attn.q_proj.lora_a: its pair lora_b is missing"):
        load_source(ckpt)


@pytest.mark.parametrize("name", ["gemma3", "gemma3_text"])
def test_a_peft_export_resolves_to_the_same_adapter(runs, name, tmp_path):
    from kazft.artifacts.adapters import resolve_adapter

    run = runs[name]
    src = load_source(run.dir)
    ref = resolve_adapter(export_peft(src, tmp_path / "peft"))
    assert ref.kind == "peft"
    spec = ref.lora()
    assert (spec.rank, spec.scale, spec.num_layers, sorted(spec.keys or ())) == (
        src.lora.rank,
        src.lora.scale,
        src.lora.num_layers,
        sorted(src.lora.keys or ()),
    )
    got = ref.load_weights()  # back in mlx-lm's names and (in, r) / (r, out) layout
    assert got.keys() == src.weights.keys()
    assert all(mx.array_equal(got[k], src.weights[k]) for k in got)
    # ... and it exports again as the same mlx adapter.
    again = load_source(tmp_path / "peft", base=src.base)
    assert all(mx.array_equal(again.weights[k], src.weights[k]) for k in got)
