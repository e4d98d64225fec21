"""``kazft train`` with data.packing: true on the tiny model."""

from __future__ import annotations

import pytest

from kazft.cli import main
from kazft.train.callbacks import read_metrics

from .train_helpers import make_recipe


def test_packed_training_runs_and_reports_trained_tokens(qa_file, tmp_path, tiny_tokenizer):
    from kazft.data.batching import BatchIterator
    from kazft.data.pipeline import prepare

    over = {"iters": 3, "batch_size": 2, "grad_accum": 1, "save_every": 3, "eval_every": 3}
    data = {"max_seq_length": 128}  # 3-4 records of the tiny tokenizer per row
    recipe = make_recipe(qa_file, tmp_path / "packed", train=over, data=data)
    path = tmp_path / "packed.yaml"
    assert main(["train", str(path), "--set", "data.packing=true", "--no-progress"]) == 0
    rows = read_metrics(tmp_path / "packed" / "metrics.jsonl")
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 2, 3]
    assert [r["step"] for r in rows if r["kind"] == "valid"] == [0, 3]
    # The batches the run trained on: packed rows of up to max_seq_length positions.
    prep = prepare(recipe, tiny_tokenizer)
    seq = recipe.data.max_seq_length
    it = BatchIterator(prep.train, 2, recipe.train.seed, packing=seq)
    batches = [it.batch(i) for i in range(3)]
    assert all(b.segments is not None and b.segments.max() > 1 for b in batches)
    assert train_rows[-1]["trained_tokens"] == sum(b.n_trained for b in batches)
    for r, b in zip(train_rows, batches, strict=True):
        assert r["tokens_per_s"] > 0
        # both rates over the same seconds: their ratio is the step's token counts'
        ratio = r["trained_tokens_per_s"] / r["tokens_per_s"]
        assert ratio == pytest.approx(b.n_trained / b.n_tokens, rel=1e-9)
