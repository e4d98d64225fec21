"""A review folder made by `kazft review create` on a seeded LoRA run of the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kazft.cli import main

from ..export.export_helpers import build_run


def make_review(
    root: Path, base: Path, questions: list[dict[str, Any]], seed: int, review_seed: int = 0
) -> Path:
    run = build_run(root / "run", base, "gemma3", seed=seed)
    q = root / "questions.jsonl"
    q.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in questions))
    out = root / "rev"
    args = ["review", "create", str(run.dir), "--questions", str(q), "-o", str(out)]
    assert main([*args, "--max-tokens", "6", "--seed", str(review_seed)]) == 0
    return out
