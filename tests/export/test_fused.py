"""Fused export: de-quantised equals model+adapter; re-quantised drift is measured."""

from __future__ import annotations

import json

import mlx.core as mx
import mlx.nn as nn
import mlx_lm
import numpy as np
import pytest

from kazft.cli import main
from kazft.export.drift import measure_drift
from kazft.export.fused import export_fused, fuse_in_place, load_as_trained
from kazft.export.source import load_source

from .export_helpers import PROMPT, logits


@pytest.mark.parametrize("name", ["gemma3", "gemma3_text", "gemma3_q4"])
def test_float32_fused_model_equals_model_plus_adapter(runs, base_logits, name, tmp_path):
    run = runs[name]
    out = export_fused(load_source(run.dir), tmp_path / "fused", dtype="float32")
    fused, _ = mlx_lm.load(str(out))
    want = logits(run.model)
    assert np.abs(logits(fused) - want).max() < 1e-4
    assert np.abs(want - base_logits[run.layout]).max() > 0.1  # the adapter is in there


def test_fused_fresh_adapter_is_the_base_exactly(runs, base_logits, tmp_path):
    out = export_fused(load_source(runs["fresh"].dir), tmp_path / "fused", dtype="float32")
    fused, _ = mlx_lm.load(str(out))
    assert np.array_equal(logits(fused), base_logits["gemma3"])


def test_fused_folder_is_a_hugging_face_checkpoint(runs, tiny_dirs, tmp_path):
    run = runs["gemma3_q4"]  # trained on 4 bits: the output is de-quantised all the same
    out = export_fused(load_source(run.dir), tmp_path / "fused")  # bf16 by default
    src_index = json.loads((tiny_dirs["gemma3"] / "model.safetensors.index.json").read_text())
    got = mx.load(str(out / "model.safetensors"))
    assert set(got) == set(src_index["weight_map"])  # the checkpoint's names, vision included
    assert {str(w.dtype) for w in got.values()} == {"mlx.core.bfloat16"}
    vision = "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight"
    src = mx.load(str(tiny_dirs["gemma3"] / src_index["weight_map"][vision]))[vision]
    assert mx.array_equal(got[vision], src.astype(mx.bfloat16))
    cfg = json.loads((out / "config.json").read_text())
    assert "quantization" not in cfg and "quantization_config" not in cfg
    assert cfg["torch_dtype"] == "bfloat16" and cfg["architectures"] == [
        "Gemma3ForConditionalGeneration"
    ]
    for name in (
        "tokenizer.json",
        "tokenizer.model",
        "chat_template.jinja",
        "generation_config.json",
    ):
        assert (out / name).read_bytes() == (tiny_dirs["gemma3"] / name).read_bytes()
    info = json.loads((out / "kazft_fused.json").read_text())
    assert info["trained_quantization"] == {"bits": 4, "group_size": 64}
    assert info["quantization"] is None and info["adapter_step"] == 2
    # bf16 only rounds the fp32 sums once: close, not equal
    fused, _ = mlx_lm.load(str(out))
    assert np.abs(logits(fused) - logits(run.model)).max() < 0.1


def _batch(ids: list[int]):
    class B:
        inputs = np.array([ids[:-1]], dtype=np.int32)
        targets = np.array([ids[1:]], dtype=np.int32)
        mask = np.array([[0.0] * 4 + [1.0] * (len(ids) - 5)], dtype=np.float32)

    return B


def test_drift_numbers_are_what_they_say(runs):
    run = runs["gemma3_q4"]
    src = load_source(run.dir)
    reference, _ = load_as_trained(src)
    fused = fuse_in_place(load_as_trained(src)[0], "float32", {"bits": 4, "group_size": 64})
    # layers without an adapter keep the trained 4-bit weights bit for bit
    assert mx.array_equal(
        fused.layers[0].self_attn.q_proj.weight, run.model.layers[0].self_attn.q_proj.weight
    )
    assert isinstance(fused.layers[5].self_attn.q_proj, nn.QuantizedLinear)
    b = _batch(PROMPT)
    d = measure_drift(reference, fused, [b])
    m = b.mask[0].astype(bool)
    ref, fz = logits(run.model)[0, :-1][m], logits(fused)[0, :-1][m]
    from mlx_lm.tuner.lora import LoRALinear

    for layer in (x for _, x in reference.named_modules() if isinstance(x, LoRALinear)):
        layer.scale = 0.0  # the base as trained
    base = logits(reference)[0, :-1][m]

    def ce(lg):
        lg = lg.astype(np.float64)
        lse = np.log(np.exp(lg - lg.max(-1, keepdims=True)).sum(-1)) + lg.max(-1)
        return float((lse - lg[np.arange(len(lg)), np.array(PROMPT[1:])[m]]).mean())

    assert d.positions == int(m.sum()) == 11
    assert d.effect_mean == pytest.approx(np.abs(ref - base).mean(), rel=1e-4)
    assert d.drift_mean == pytest.approx(np.abs(fz - ref).mean(), rel=1e-4)
    assert d.drift_max == pytest.approx(np.abs(fz - ref).max(), rel=1e-4)
    for got, lg in ((d.loss_base, base), (d.loss_adapter, ref), (d.loss_fused, fz)):
        assert got == pytest.approx(ce(lg), rel=1e-4)
    assert d.drift_mean > 0


def test_quantize_cli_prints_the_drift_and_warns(runs, tmp_path, capsys):
    run = runs["gemma3"]  # trained on full weights: 2-bit re-quantisation wrecks it
    out = tmp_path / "q2"
    assert (
        main(
            [
                "export",
                str(run.dir),
                "--format",
                "fused",
                "--quantize",
                "--bits",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "drift measured on" in text and "drift / effect" in text
    assert "trained tokens of 1 validation record:" in text  # the recipe's 10 % split
    assert "warning: re-quantising to 2 bits erases a meaningful part" in text
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["quantization"] == {"bits": 2, "group_size": 64, "mode": "affine"}
    model, _ = mlx_lm.load(str(out))  # the mlx-lm quantised layout
    assert isinstance(model.layers[5].self_attn.q_proj, nn.QuantizedLinear)


def test_fused_options_are_checked(runs, tmp_path, capsys):
    assert (
        main(
            [
                "export",
                str(runs["gemma3"].dir),
                "--format",
                "mlx",
                "--quantize",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "only to --format fused" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert (
        main(
            [
                "export",
                str(runs["gemma3"].dir),
                "--format",
                "fused",
                "--out",
                str(tmp_path / "taken"),
            ]
        )
        == 2
    )
    assert "already exists; pass --force" in capsys.readouterr().err


def test_drift_says_it_used_training_records_without_a_validation_split(runs, tmp_path, capsys):
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(runs["gemma3"].dir, run)
    rec = yaml.safe_load((run / "recipe.yaml").read_text())
    rec["data"]["split"]["valid"] = 0.0
    (run / "recipe.yaml").write_text(yaml.safe_dump(rec, allow_unicode=True))
    out = tmp_path / "q4"
    assert main(["export", str(run), "--format", "fused", "--quantize", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "trained tokens of 10 training records (the run has no validation split):" in text
