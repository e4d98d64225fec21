"""Fixtures for the trainer tests (helpers live in train_helpers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .train_helpers import ANSWERS, QUESTIONS, SUBJECTS


@pytest.fixture(scope="session")
def qa_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 short alpaca records (about 30-40 tokens each with the tiny tokenizer)."""
    path = tmp_path_factory.mktemp("data") / "qa.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for s in SUBJECTS:
            for q, a in zip(QUESTIONS, ANSWERS, strict=True):
                rec = {"instruction": q.format(s=s), "input": "", "output": a.format(s=s)}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path
