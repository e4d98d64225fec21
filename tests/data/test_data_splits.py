"""Splits: seeded and exact; duplicates never straddle; a split key with no effect is an error."""

from __future__ import annotations

import pytest

from kazft.data.pipeline import prepare
from kazft.data.records import normalise_key
from kazft.data.splits import seeded_split
from kazft.errors import DataError, RecipeError
from kazft.recipe import load_recipe

from .data_helpers import qa


def test_normalised_key():
    assert normalise_key("Сұ\u0301рақ  \n бар", "") == normalise_key("Сұ\u0301рақ бар ", "")
    assert normalise_key("и\u0306", "x") == normalise_key("й", "x")  # NFC
    assert normalise_key("a", "b") != normalise_key("a b", "")


def test_seeded_split_is_deterministic_and_sized():
    keys = [f"k{i}" for i in range(100)]
    a = seeded_split(keys, 0.1, 0.05, seed=0)
    assert a == seeded_split(keys, 0.1, 0.05, seed=0)
    assert (len(a.train), len(a.valid), len(a.test)) == (85, 10, 5)
    assert sorted(a.train + a.valid + a.test) == list(range(100))
    b = seeded_split(keys, 0.1, 0.05, seed=1)
    assert b.valid != a.valid
    assert seeded_split(keys, 0.1, 0.0, seed=-3).valid  # any int seeds, negative too


def test_duplicates_never_straddle_splits():
    keys = [f"q{i % 13}" for i in range(60)]  # 13 prompts, each 4-5 times
    res = seeded_split(keys, 0.2, 0.1, seed=7)
    where = {}
    for name in ("train", "valid", "test"):
        for i in getattr(res, name):
            assert where.setdefault(keys[i], name) == name
    assert len(res.duplicate_groups) == 13
    assert res.valid and res.test


def test_tiny_sets_still_get_a_validation_record_and_too_few_fail():
    assert len(seeded_split(["a", "b", "c"], 0.1, 0.0, seed=0).valid) == 1
    with pytest.raises(
        DataError, match=r"2 record\(s\) in 1 distinct prompt\(s\) are too few to split"
    ):
        seeded_split(["a", "a"], 0.1, 0.0, seed=0)


def test_pipeline_split_groups_duplicates_and_reports_them(recipe, tok, write):
    rows = [qa(i % 10) for i in range(30)]
    rows[3] = {"instruction": " Сұрақ   3? ", "output": "басқа жауап"}  # same prompt, other spacing
    p = write(rows)
    prep = prepare(recipe({"train": str(p), "split": {"valid": 0.2}}, train={"seed": 5}), tok)
    again = prepare(recipe({"train": str(p), "split": {"valid": 0.2}}, train={"seed": 5}), tok)
    assert [e.source for e in prep.valid] == [e.source for e in again.valid]
    assert len(prep.valid) == 6 and len(prep.train) == 24
    line = {e.source: int(e.source.rsplit(":", 1)[1]) - 1 for e in prep.train + prep.valid}
    train_q = {line[e.source] % 10 for e in prep.train}
    valid_q = {line[e.source] % 10 for e in prep.valid}
    assert not train_q & valid_q
    assert len(prep.report.duplicates) == 10
    assert f"{p}:4" in next(g for g in prep.report.duplicates if f"{p}:14" in g)
    assert prep.report.split_mode == "seeded split of train (seed 5): valid 0.2, test 0"


def test_valid_file_means_no_split_and_leaks_are_excluded(recipe, tok, write):
    train = write([qa(i) for i in range(8)], name="train.jsonl")
    valid = write([qa(3), qa(100), qa(101)], name="valid.jsonl")
    test = write([qa(100), qa(200)], name="test.jsonl")
    prep = prepare(recipe({"train": str(train), "valid": str(valid), "test": str(test)}), tok)
    assert len(prep.train) == 8
    assert [e.source for e in prep.valid] == [f"{valid}:2", f"{valid}:3"]
    assert [e.source for e in prep.test] == [f"{test}:2"]
    leaks = [(i.location, i.reason, i.message) for i in prep.report.issues]
    assert leaks == [
        (f"{valid}:1", "duplicate_of_earlier_split", f"same prompt as {train}:4"),
        (f"{test}:1", "duplicate_of_earlier_split", f"same prompt as {valid}:2"),
    ]
    assert prep.report.split_mode == "files: data.valid and data.test"
    assert [(s.records, s.left_out, s.examples) for s in prep.report.splits.values()] == [
        (8, 0, 8),
        (3, 1, 2),
        (2, 1, 1),
    ]


def test_test_file_with_seeded_valid_split(recipe, tok, write):
    train = write([qa(i) for i in range(20)], name="train.jsonl")
    test = write([qa(100)], name="test.jsonl")
    prep = prepare(recipe({"train": str(train), "test": str(test), "split": {"valid": 0.1}}), tok)
    assert (len(prep.train), len(prep.valid), len(prep.test)) == (18, 2, 1)


def _recipe_file(tmp_path, data_yaml: str):
    p = tmp_path / "r.yaml"
    p.write_text(
        f"model:\n  base: kazft:tiny\ndata:\n  train: t.jsonl\n{data_yaml}output:\n  dir: out\n"
    )
    return p


@pytest.mark.parametrize(
    ("data_yaml", "expected"),
    [
        (
            "  valid: v.jsonl\n  split:\n    valid: 0.2\n",
            "data: split has no effect when data.valid names validation files",
        ),
        (
            "  valid: v.jsonl\n  split:\n    test: 0.1\n",
            "data: split has no effect when data.valid",
        ),
        (
            "  test: t2.jsonl\n  split:\n    test: 0.1\n",
            "data: split.test has no effect when data.test names test files",
        ),
    ],
)
def test_keys_that_would_have_no_effect_are_errors(tmp_path, data_yaml, expected):
    with pytest.raises(RecipeError) as exc:
        load_recipe(_recipe_file(tmp_path, data_yaml))
    assert f"line 3: {expected}" in str(exc.value)


def test_packing_is_accepted(tmp_path):
    assert load_recipe(_recipe_file(tmp_path, "  packing: true\n")).data.packing is True


def test_default_or_zero_split_with_valid_files_is_fine(tmp_path):
    for data_yaml in (
        "  valid: v.jsonl\n",
        "  valid: v.jsonl\n  split:\n    valid: 0\n    test: 0\n",
        "  valid: v.jsonl\n  split:\n    valid: 0.1\n",
    ):
        r = load_recipe(_recipe_file(tmp_path, data_yaml))
        assert r.data.valid == "v.jsonl"
        assert load_recipe(_recipe_file(tmp_path, "")).data.split.valid == 0.1
    # the resolved recipe (all defaults written out) still loads
    (tmp_path / "again.yaml").write_text(r.to_yaml())
    assert load_recipe(tmp_path / "again.yaml").model_dump() == r.model_dump()
