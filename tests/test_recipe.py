"""Recipes: every shipped recipe validates; every mistake is named, located, and reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kazft.errors import RecipeError
from kazft.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.output.dir
    assert recipe.lora.scale == recipe.lora.alpha / recipe.lora.rank


def test_legal_recipe_is_what_our_users_run():
    r = load_recipe(ROOT / "recipes" / "legal.yaml")
    assert r.model.base == "google/gemma-3-4b-it"
    assert (r.model.quantize.bits, r.model.quantize.group_size) == (4, 64)
    assert (r.lora.rank, r.lora.alpha, r.lora.dropout, r.lora.layers) == (64, 16, 0.05, 16)
    assert r.lora.scale == 0.25
    assert (r.train.learning_rate, r.train.batch_size, r.train.iters) == (1e-4, 1, 1000)
    assert (r.train.save_every, r.train.val_batches) == (200, 25)
    assert r.data.split.valid == 0.1


def test_demo_extends_legal_and_runs_offline():
    r = load_recipe(ROOT / "recipes" / "demo.yaml")
    assert r.model.base == "kazft:tiny"
    assert r.data.system_prompt == load_recipe(ROOT / "recipes" / "legal.yaml").data.system_prompt


def _write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


BASE = """model:
  base: kazft:tiny
data:
  train: data.jsonl
output:
  dir: out
"""


def test_unknown_key_names_file_line_path_and_suggestion(tmp_path):
    p = _write(tmp_path, BASE + "lora:\n  lora_rank: 64\n")
    with pytest.raises(RecipeError) as exc:
        load_recipe(p)
    msg = str(exc.value)
    assert str(p) in msg
    assert "line 8: lora.lora_rank: unknown key; did you mean 'rank'?" in msg


def test_all_problems_reported_at_once_with_ranges(tmp_path):
    p = _write(
        tmp_path,
        BASE + "lora:\n  rank: 0\n  dropout: 1.5\ntrain:\n  learning_rate: abc\n  itres: 5\n",
    )
    with pytest.raises(RecipeError) as exc:
        load_recipe(p)
    problems = exc.value.problems
    assert len(problems) == 4
    text = "\n".join(problems)
    assert "lora.rank: 0 is out of range (must be >= 1)" in text
    assert "lora.dropout: 1.5 is out of range (must be < 1.0)" in text
    assert "train.learning_rate" in text
    assert "train.itres: unknown key; did you mean 'iters'?" in text


def test_missing_section_and_bad_choice(tmp_path):
    p = _write(tmp_path, "model:\n  base: x\n  quantize:\n    bits: 7\ndata:\n  train: d\n")
    with pytest.raises(RecipeError) as exc:
        load_recipe(p)
    text = str(exc.value)
    assert "output: required key is missing" in text
    assert "model.quantize.bits: 7 is not allowed (expected 2, 3, 4, 5, 6 or 8)" in text


def test_extends_merges_and_set_overrides(tmp_path):
    _write(tmp_path, BASE + "train:\n  iters: 10\n  seed: 3\n", "parent.yaml")
    child = _write(tmp_path, "extends: parent\ntrain:\n  iters: 20\n", "child.yaml")
    r = load_recipe(child, overrides=["train.learning_rate=2e-4", "lora.targets=[q_proj, v_proj]"])
    assert (r.train.iters, r.train.seed, r.train.learning_rate) == (20, 3, 2e-4)
    assert r.lora.targets == ["q_proj", "v_proj"]


def test_bad_override_is_located(tmp_path):
    p = _write(tmp_path, BASE)
    with pytest.raises(RecipeError, match=r"--set lora\.rnak: unknown key; did you mean 'rank'"):
        load_recipe(p, overrides=["lora.rnak=8"])
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        load_recipe(p, overrides=["lora.rank"])


def test_extends_loop_and_missing_file(tmp_path):
    _write(tmp_path, "extends: b\n", "a.yaml")
    _write(tmp_path, "extends: a\n", "b.yaml")
    with pytest.raises(RecipeError, match="loops"):
        load_recipe(tmp_path / "a.yaml")
    with pytest.raises(RecipeError, match="file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_seed_zero_is_kept(tmp_path):
    p = _write(tmp_path, BASE + "train:\n  seed: 0\n")
    assert load_recipe(p).train.seed == 0


def test_resolved_recipe_round_trips(tmp_path):
    r = load_recipe(ROOT / "recipes" / "demo.yaml")
    again = _write(tmp_path, r.to_yaml())
    assert load_recipe(again).model_dump() == r.model_dump()


def test_invalid_yaml_names_the_line(tmp_path):
    p = _write(tmp_path, BASE + "lora:\n  rank: [64\n")
    with pytest.raises(RecipeError) as exc:
        load_recipe(p)
    assert str(p) in str(exc.value)
    assert "not valid YAML" in str(exc.value) and "line " in str(exc.value)


def test_cli_prints_recipe_errors_without_traceback(tmp_path, capsys):
    from kazft.cli import main

    p = _write(tmp_path, BASE + "lora:\n  lora_rank: 64\n")
    assert main(["data", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'rank'" in err and "Traceback" not in err


def test_a_misspelt_recipe_name_gets_a_did_you_mean(tmp_path, monkeypatch):
    from kazft.errors import KazftError

    monkeypatch.chdir(ROOT)
    with pytest.raises(KazftError) as err:
        load_recipe("legall")
    assert str(err.value) == (
        "no recipe 'legall': looked for legall and recipes/legall.yaml; did you mean 'legal'? "
        "(recipes: demo, legal)"
    )


def test_extends_by_name_from_outside_recipes_looks_in_recipes(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    mine = _write(tmp_path, "extends: demo\ntrain:\n  iters: 3\n", "mine.yaml")
    r = load_recipe(mine)
    assert r.model.base == "kazft:tiny" and r.train.iters == 3  # demo, which extends legal
    lost = _write(tmp_path, "extends: nosuch\n", "lost.yaml")
    with pytest.raises(RecipeError) as err:
        load_recipe(lost)
    assert (
        f"extends: nosuch: not found (looked for {tmp_path}/nosuch.yaml and recipes/nosuch.yaml)"
        in str(err.value)
    )


def test_shipped_recipes_state_their_ai_law_card():
    legal = load_recipe(ROOT / "recipes" / "legal.yaml").card
    assert legal.risk_class == "medium" and "lawyer" in legal.reviewer
    assert "legal-consultation assistant" in legal.risk_reason and legal.description
    demo = load_recipe(ROOT / "recipes" / "demo.yaml").card
    assert demo.risk_class == "low" and "random tiny model" in demo.risk_reason
    assert demo.reviewer == legal.reviewer  # inherited through extends
