"""Fixtures for the data pipeline tests: small JSONL files in tmp_path and recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kazft.recipe import Recipe

from .data_helpers import jsonl_bytes


@pytest.fixture
def write(tmp_path: Path):
    def _write(
        rows: list[Any], name: str = "d.jsonl", newline: str = "\n", bom: bool = False
    ) -> Path:
        p = tmp_path / name
        p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + jsonl_bytes(rows, newline))
        return p

    return _write


@pytest.fixture
def recipe():
    def _recipe(
        data: dict[str, Any], train: dict[str, Any] | None = None, base: str = "kazft:tiny"
    ) -> Recipe:
        return Recipe.model_validate(
            {"model": {"base": base}, "data": data, "train": train or {}, "output": {"dir": "out"}}
        )

    return _recipe


@pytest.fixture(scope="session")
def tok(tiny_tokenizer):
    return tiny_tokenizer
