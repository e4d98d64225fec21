"""What each data verb does to the user's data, and what it never does
(docs/data-tools.md, "What each verb does to your data")."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kazft.cli import main

from .test_cli import jsonl, read_jsonl

RECORDS = [
    {
        "instruction": 'Қазақстaн туралы "айт"',  # a Latin look-alike a
        "input": "API мен BERT-ті қолдандық, https://example.kz қараңыз.",
        "output": "Жұмыс беруші жалақыны уақытында төлеуге міндетті.",
        "category": "labour",
        "id": 7,
    },
    {"instruction": "Тек сұрақ.", "output": "Жауап.", "meta": {"source": "a.docx", "page": 3}},
    {"instruction": "Тек сұрақ.", "output": "Жауап."},  # an exact copy
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return jsonl(tmp_path / "in.jsonl", RECORDS)


@pytest.mark.parametrize(
    "verb",
    [
        ["detect"],
        ["normalize"],
        ["translit", "--to", "latin2021"],
        ["stats", "--no-detect"],
        ["dedup"],
    ],
)
def test_no_verb_touches_its_input(src, tmp_path, verb, capsys):
    before = digest(src)
    assert main(["data", verb[0], str(src), *verb[1:], "-o", str(tmp_path / "o")]) == 0
    assert digest(src) == before


@pytest.mark.parametrize("verb", [["normalize"], ["translit", "--to", "latin2018"]])
def test_rewriting_verbs_keep_records_order_and_other_fields(src, tmp_path, verb, capsys):
    out = tmp_path / "o.jsonl"
    assert main(["data", verb[0], str(src), *verb[1:], "-o", str(out)]) == 0
    rows = read_jsonl(out)
    assert len(rows) == len(RECORDS)
    for before, after in zip(RECORDS, rows, strict=True):
        assert list(after) == list(before)  # same keys, same order
        for key in before:
            if key not in ("instruction", "input", "output"):
                assert after[key] == before[key]


def test_normalize_is_idempotent_on_files(src, tmp_path, capsys):
    once, twice = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    assert main(["data", "normalize", str(src), "-o", str(once)]) == 0
    assert main(["data", "normalize", str(once), "-o", str(twice)]) == 0
    assert once.read_bytes() == twice.read_bytes()
    assert "Қазақстан" in once.read_text(encoding="utf-8")


def test_translit_leaves_foreign_tokens_alone(src, tmp_path, capsys):
    latin, back = tmp_path / "l.jsonl", tmp_path / "c.jsonl"
    assert main(["data", "translit", str(src), "--to", "latin2018", "-o", str(latin)]) == 0
    assert main(["data", "translit", str(latin), "--to", "cyrillic", "-o", str(back)]) == 0
    row = read_jsonl(back)[0]
    assert row["input"] == RECORDS[0]["input"]
    assert row["output"] == RECORDS[0]["output"]


def test_dedup_keeps_records_byte_identical_and_says_why_one_went(src, tmp_path, capsys):
    out, clusters = tmp_path / "o.jsonl", tmp_path / "c.jsonl"
    assert main(["data", "dedup", str(src), "-o", str(out), "--clusters", str(clusters)]) == 0
    lines = src.read_text(encoding="utf-8").splitlines()
    assert out.read_text(encoding="utf-8").splitlines() == lines[:2]
    [row] = [json.loads(x) for x in clusters.read_text(encoding="utf-8").splitlines()]
    assert row["removed"] == [{"record": f"{src}:3", "kind": "exact", "similarity": 1.0}]
