"""Fixtures of the export tests: runs built once per session (see export_helpers)."""

from __future__ import annotations

import numpy as np
import pytest

from .export_helpers import Run, build_run, logits


@pytest.fixture(scope="session")
def runs(tiny_dirs, tmp_path_factory) -> dict[str, Run]:
    """Trained-looking runs: fp32 LoRA on both layouts, QLoRA (4-bit) on gemma3."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "gemma3": build_run(root / "gemma3", tiny_dirs["gemma3"], "gemma3"),
        "gemma3_text": build_run(
            root / "gemma3_text", tiny_dirs["gemma3_text"], "gemma3_text", seed=2
        ),
        "gemma3_q4": build_run(
            root / "gemma3_q4",
            tiny_dirs["gemma3"],
            "gemma3",
            quantize={"bits": 4, "group_size": 64},
            seed=3,
        ),
        # lora_b = 0, as before the first step: the model must equal its base.
        "fresh": build_run(root / "fresh", tiny_dirs["gemma3"], "gemma3", trained=False, seed=4),
    }


@pytest.fixture(scope="session")
def base_logits(tiny_dirs) -> dict[str, np.ndarray]:
    import mlx_lm

    return {k: logits(mlx_lm.load(str(v))[0]) for k, v in tiny_dirs.items()}
