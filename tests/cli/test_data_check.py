"""`kazft data check RECIPE`: the report for good data, one paragraph and exit 2 for bad data."""

from __future__ import annotations

import json
from pathlib import Path

from kazft.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _recipe(tmp_path: Path, tiny_dir: Path, rows: list[str], extra: str = "") -> Path:
    (tmp_path / "d.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    p = tmp_path / "r.yaml"
    p.write_text(
        f"model:\n  base: {tiny_dir}\ndata:\n  train: d.jsonl\n{extra}output:\n  dir: out\n",
        encoding="utf-8",
    )
    return p


def _qa(i: int) -> str:
    return json.dumps(
        {"instruction": f"Сұрақ {i}?", "input": "", "output": f"Жауап {i}."}, ensure_ascii=False
    )


def test_demo_recipe_report(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    full = ["--set", "data.train=data/legal/legal_qa.jsonl", "--set", "data.split.valid=0.1"]
    assert main(["data", "check", "demo", "--set", "data.max_seq_length=2048", *full]) == 0
    out = capsys.readouterr().out
    assert "kazft data check recipes/demo.yaml: tokenizer of kazft:tiny" in out
    assert "data/legal/legal_qa.jsonl" in out and "alpaca" in out
    assert "seeded split of train (seed 0): valid 0.1, test 0" in out
    assert "No record was truncated, excluded or skipped." in out
    assert "train example 0: data/legal/legal_qa.jsonl:" in out
    assert "trained" in out and "masked" in out and "<start_of_turn>model" in out


def test_bad_data_is_one_paragraph_and_exit_2(tmp_path, tiny_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _recipe(tmp_path, tiny_dir, [_qa(1), '{"instruction": "x"', _qa(3)])
    assert main(["data", "check", str(p)]) == 2
    cap = capsys.readouterr()
    assert cap.err.startswith("kazft: error: d.jsonl:2: not valid JSON (")
    assert "Traceback" not in cap.err and cap.out == ""
    assert cap.err.count("\n") == 1


def test_skip_and_set_show_reasons_and_locations(tmp_path, tiny_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    long = json.dumps({"instruction": "Сұрақ " * 40, "output": "Иә."}, ensure_ascii=False)
    p = _recipe(
        tmp_path,
        tiny_dir,
        [_qa(1), "[1]", long, _qa(4), _qa(1)],
        "  on_bad_record: skip\n  split:\n    valid: 0\n",
    )
    assert main(["data", "check", str(p), "--set", "data.max_seq_length=32", "--all"]) == 0
    out = capsys.readouterr().out
    assert "skipped (train) not_object: 1: d.jsonl:2" in out
    assert "truncated (train) prompt_truncated: 1: d.jsonl:3" in out
    assert "Duplicate prompts: 1 prompt(s) appear more than once (2 records)" in out


def test_recipe_mistakes_exit_2(tmp_path, tiny_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _recipe(tmp_path, tiny_dir, [_qa(1)])
    assert main(["data", "check", str(p), "--set", "data.max_seq_lenght=64"]) == 2
    err = capsys.readouterr().err
    assert "data.max_seq_lenght: unknown key; did you mean 'max_seq_length'?" in err
    assert "Traceback" not in err
