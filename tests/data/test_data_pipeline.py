"""The whole pipeline on the shipped recipes and sample data; the report; load_tokenizer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kazft.cli.data_report import print_report
from kazft.data.batching import BatchIterator, fixed_batches
from kazft.data.pipeline import prepare
from kazft.data.report import compact_locations, segments
from kazft.errors import ModelError
from kazft.model.load import load_tokenizer
from kazft.recipe import load_recipe

from .data_helpers import qa

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "legal" / "legal_qa.jsonl"


def _sample_rows() -> list[dict]:
    return [
        json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.mark.parametrize("name", ["demo", "legal"])
def test_shipped_recipes_prepare_the_legal_sample(name, tok, monkeypatch):
    monkeypatch.chdir(ROOT)  # data paths are relative to where kazft runs
    # The demo trains on a 7-record subset; here both prepare the full sample.
    full = ["data.train=data/legal/legal_qa.jsonl", "data.split.valid=0.1"]
    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml", full if name == "demo" else None)
    # The legal recipe's tokenizer is Gemma 3 4B's (not available offline); the
    # tiny tokenizer keeps its ids and template, and splits Kazakh into more tokens.
    prep = prepare(recipe, tok)
    rep = prep.report
    n = len(_sample_rows())
    (src,) = rep.sources
    assert (src.source, src.role, src.format, src.records, src.skipped) == (
        "data/legal/legal_qa.jsonl",
        "train",
        "alpaca",
        n,
        0,
    )
    assert src.unused_keys == {}  # category is used
    tr, va, te = rep.splits["train"], rep.splits["valid"], rep.splits["test"]
    assert (tr.records + va.records, va.records, te.records) == (n, round(n * 0.1), 0)
    assert rep.duplicates == []  # every (instruction, input) pair is unique
    excluded = {
        s: sum(1 for i in rep.issues if i.kind == "excluded" and i.split == s)
        for s in ("train", "valid")
    }
    assert (tr.left_out, va.left_out) == (excluded["train"], excluded["valid"])
    assert tr.examples == len(prep.train) and va.examples == len(prep.valid)
    limit = recipe.data.max_seq_length
    for ex in prep.train + prep.valid:
        assert sum(ex.mask) > 0 and len(ex.tokens) <= limit and ex.tokens[0] == 2
        assert ex.category in {
            "corporate",
            "labour",
            "administrative",
            "civil",
            "tax",
            "family",
            "banking",
        }
    assert tr.trained == sum(sum(e.mask) for e in prep.train)
    assert tr.tokens == sum(len(e.tokens) for e in prep.train)
    assert tr.max == max(len(e.tokens) for e in prep.train) <= limit
    assert tr.p50 <= tr.p90 <= tr.p99 <= tr.max
    assert sum(tr.categories.values()) == tr.examples
    if name == "legal":
        assert not rep.issues  # at 1024 tokens nothing is cut
    it = BatchIterator(prep.train, recipe.train.batch_size, recipe.train.seed)
    assert it.batch(0).inputs.shape[0] == recipe.train.batch_size
    assert len(fixed_batches(prep.valid, recipe.train.val_batches, recipe.train.batch_size, 0)) >= 1


def test_same_recipe_same_examples(tok, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = load_recipe(ROOT / "recipes" / "demo.yaml")
    a, b = prepare(r, tok), prepare(r, tok)
    assert [(e.source, e.tokens, e.mask) for e in a.train] == [
        (e.source, e.tokens, e.mask) for e in b.train
    ]


def test_report_prints_counts_issues_and_a_rendered_example(write, recipe, tok):
    from rich.console import Console

    p = write([qa(1, category="tax"), qa(1), "nope", qa(3, input="Мәтін " * 30), qa(4)])
    prep = prepare(
        recipe(
            {
                "train": str(p),
                "on_bad_record": "skip",
                "max_seq_length": 32,
                "split": {"valid": 0.0},
            }
        ),
        tok,
    )
    out = io.StringIO()
    print_report(prep, lambda ids: tok.decode(ids), console=Console(file=out, width=200), example=1)
    text = out.getvalue()
    assert f"{p}" in text and "alpaca" in text
    assert f"skipped (train) malformed_json: 1: {p}:3" in text
    assert f"truncated (train) prompt_truncated: 1: {p}:4" in text
    assert "Duplicate prompts: 1 prompt(s) appear more than once (2 records)" in text
    assert f"{p}:1, {p}:2" in text
    ex = prep.train[1]
    assert f"train example 1: {ex.source} ({len(ex.tokens)} tokens: {sum(ex.mask)} trained" in text
    trained_line = next(line for line in text.splitlines() if line.startswith("trained"))
    assert trained_line.split(None, 1)[1].strip() == tok.decode(
        [t for t, m in zip(ex.tokens, ex.mask, strict=True) if m]
    )
    assert "Categories: tax 1" in text


def test_segments_and_compact_locations():
    assert segments([1, 2, 3, 4, 5], [False, False, True, True, False]) == [
        (False, [1, 2]),
        (True, [3, 4]),
        (False, [5]),
    ]
    assert (
        compact_locations(["a.jsonl:1", "a.jsonl:4", "b.jsonl:2", "ds:train:7"])
        == "a.jsonl:1, 4; b.jsonl:2; ds:train:7"
    )


def test_load_tokenizer_local_folder_has_generation_eos_ids(tiny_dir):
    t = load_tokenizer(str(tiny_dir))
    assert t.eos_token_ids == {1, 106}
    assert t.apply_chat_template(
        [{"role": "user", "content": "a"}], tokenize=False, add_generation_prompt=True
    ).startswith("<bos><start_of_turn>user\n")


def test_load_tokenizer_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="model './nope' not found"):
        load_tokenizer("./nope")
    with pytest.raises(ModelError, match=f"{tmp_path}: no tokenizer files"):
        load_tokenizer(str(tmp_path))
    with pytest.raises(
        ModelError, match="could not fetch the tokenizer of 'kazft-test/no-such-model'"
    ):
        load_tokenizer("kazft-test/no-such-model")


def test_the_data_package_never_imports_mlx():
    import subprocess
    import sys

    code = (
        "import sys, kazft.data.pipeline, kazft.data.batching, kazft.data.report\n"
        "bad = [m for m in ('mlx', 'mlx_lm', 'datasets') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
