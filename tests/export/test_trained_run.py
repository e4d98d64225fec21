"""End to end: a real (3-step) QLoRA run of kazft's trainer, exported in every format."""

from __future__ import annotations

import json

import mlx.core as mx
import mlx_lm
import numpy as np
import pytest

from kazft.artifacts.manifest import verify_bundle
from kazft.cli import main
from kazft.export.fused import load_as_trained
from kazft.export.source import load_source
from kazft.recipe import Recipe

from .export_helpers import logits, write_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from kazft.train.trainer import train

    root = tmp_path_factory.mktemp("trained")
    write_data(root / "train.jsonl")
    recipe = Recipe.model_validate(
        {
            "model": {"base": "kazft:tiny-text", "quantize": {"bits": 4, "group_size": 64}},
            "data": {"train": str(root / "train.jsonl"), "max_seq_length": 64},
            "lora": {
                "rank": 4,
                "alpha": 8,
                "dropout": 0.0,
                "layers": 2,
                "targets": ["q_proj", "v_proj"],
            },
            "train": {
                "iters": 3,
                "batch_size": 2,
                "learning_rate": 1e-2,
                "save_every": 3,
                "eval_every": 3,
                "val_batches": 1,
                "report_every": 1,
            },
            "output": {"dir": str(root / "run")},
        }
    )
    train(recipe, progress=None, log=lambda _: None)
    return root / "run"


def test_a_trained_run_exports_in_every_format(trained, tmp_path, capsys):
    src = load_source(trained)
    assert src.kind == "run" and src.step == 3 and src.quantize == {"bits": 4, "group_size": 64}
    assert any(float(mx.abs(w).max()) > 0 for k, w in src.weights.items() if k.endswith("lora_b"))
    reference, _ = load_as_trained(src)  # kazft's own loading: cached 4-bit base + adapter
    want = logits(reference)

    for fmt in ("mlx", "peft", "bundle"):
        assert main(["export", str(trained), "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
    assert (
        main(
            [
                "export",
                str(trained),
                "--format",
                "fused",
                "--dtype",
                "float32",
                "--out",
                str(tmp_path / "fused"),
            ]
        )
        == 0
    )
    capsys.readouterr()

    base_q4, _ = load_as_trained(src, with_adapter=False)
    from mlx_lm.tuner.utils import load_adapters

    load_adapters(base_q4, str(tmp_path / "mlx"))
    assert np.array_equal(logits(base_q4), want)
    fused, _ = mlx_lm.load(str(tmp_path / "fused"))
    assert np.abs(logits(fused) - want).max() < 1e-4

    info = verify_bundle(tmp_path / "bundle", base_folder=src.base_folder())
    assert info.manifest["adapter"]["step"] == 3
    card = (tmp_path / "bundle" / "README.md").read_text()
    val = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    last_val = [r for r in val if r.get("kind") == "valid"][-1]
    assert f"validation loss {last_val['val_loss']:.4f} at step 3" in card
    peft_cfg = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert (
        peft_cfg["base_model_name_or_path"] == "kazft:tiny-text" and peft_cfg["lora_alpha"] == 8.0
    )
