"""A model trained by the demo recipe answers a training question with its training answer.

The demo recipe (kazft:tiny, 4-bit QLoRA, rank 16 on every projection) trained
briefly on two records until it has memorised them; then ``kazft generate
--recipe`` answers each training question greedily. The whole answer must be
the training answer, followed by <end_of_turn> (finish "stop").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.cli import main

ROOT = Path(__file__).resolve().parents[2]
RECORDS = [
    {"instruction": "Салық деген не?", "output": "Салық — мемлекетке төленетін міндетті төлем."},
    {
        "instruction": "Неке жасы қандай?",
        "input": "Неке кодексі",
        "output": "Неке жасы он сегіз жас.",
    },
]


@pytest.mark.slow
def test_demo_trained_model_answers_with_its_training_answer(
    tmp_path: Path, embedded_tiny: Path, capsys: pytest.CaptureFixture
):
    from kazft.recipe import load_recipe
    from kazft.train.trainer import train

    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8"
    )
    recipe = tmp_path / "demo-short.yaml"
    recipe.write_text(
        f"extends: {ROOT / 'recipes' / 'demo.yaml'}\n"
        f"data:\n  train: {data}\n  split: {{valid: 0.0, test: 0.0}}\n"
        "train:\n  iters: 12\n  batch_size: 2\n  learning_rate: 1.0e-2\n  warmup_steps: 1\n"
        "  save_every: 12\n  eval_every: 12\n  report_every: 12\n"
        f"output:\n  dir: {tmp_path / 'run'}\n",
        encoding="utf-8",
    )
    train(load_recipe(recipe), progress=None, log=lambda msg: None)
    capsys.readouterr()

    q = tmp_path / "q.jsonl"
    q.write_text(
        "".join(
            json.dumps({k: v for k, v in r.items() if k != "output"}, ensure_ascii=False) + "\n"
            for r in RECORDS
        ),
        encoding="utf-8",
    )
    out = tmp_path / "answers.jsonl"
    args = ["generate", "--recipe", str(recipe), "--max-tokens", "40", "--quiet"]
    assert main([*args, "--input", str(q), "--output", str(out)]) == 0
    answers = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [a["generated"] for a in answers] == [r["output"] for r in RECORDS]

    assert main([*args, "--json", "--input-text", "Неке кодексі", "Неке жасы қандай?"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["generated"] == RECORDS[1]["output"] and single["finish_reason"] == "stop"
