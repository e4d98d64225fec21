"""Hugging Face `datasets` sources (offline: local Parquet/JSON through its loaders) and source specs."""

from __future__ import annotations

import json

import pytest

from kazft.data.pipeline import prepare
from kazft.data.sources import Source, parse_source
from kazft.errors import DataError

from .data_helpers import qa


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def _parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_source_specs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.parquet").write_bytes(b"")
    assert parse_source("a.jsonl", "train") == Source("jsonl", "a.jsonl")
    assert parse_source("b.parquet", "valid") == Source("loader", "b.parquet", "train", "parquet")
    assert parse_source("json:x/*.json", "train") == Source("loader", "x/*.json", "train", "json")
    assert parse_source("org/name", "valid") == Source("hub", "org/name", "validation")
    assert parse_source("org/name:train[:100]", "test") == Source("hub", "org/name", "train[:100]")
    assert parse_source("hf:org/name", "test").split == "test"
    assert parse_source("org/name", "train").label == "org/name:train"
    for missing in ("data/x.jsonl", "./org/name", "x.jsonl"):
        with pytest.raises(DataError, match=f"^{missing}: file not found"):
            parse_source(missing, "train")
    with pytest.raises(DataError, match="not a Hugging Face dataset id"):
        parse_source("hf:nope", "train")


def test_parquet_records_are_located_by_split_and_row(tmp_path, recipe, tok):
    rows = [qa(0), qa(1, input="Мәтін"), qa(2), qa(3)]
    p = _parquet(tmp_path / "legal.parquet", rows)
    prep = prepare(recipe({"train": str(p), "split": {"valid": 0.0}}), tok)
    assert sorted(e.source for e in prep.train) == [f"parquet:{p}:train:{i}" for i in range(4)]
    assert prep.report.sources[0].format == "alpaca"
    # same records as a JSONL file: same tokens
    j = tmp_path / "legal.jsonl"
    j.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    again = prepare(recipe({"train": str(j), "split": {"valid": 0.0}}), tok)
    assert sorted(e.tokens for e in prep.train) == sorted(e.tokens for e in again.train)


def test_bad_row_in_a_dataset_names_dataset_split_and_row(tmp_path, recipe, tok):
    rows = [qa(0), qa(1), {"instruction": "q", "input": "", "output": ""}]
    p = _parquet(tmp_path / "bad.parquet", rows)
    with pytest.raises(DataError) as exc:
        prepare(recipe({"train": f"parquet:{p}"}), tok)
    assert str(exc.value).startswith(f"parquet:{p}:train:2: field 'output' is empty")


def test_chat_rows_from_a_json_array(tmp_path, recipe, tok):
    convo = {
        "messages": [{"role": "user", "content": "Сұрақ?"}, {"role": "assistant", "content": "Иә."}]
    }
    p = tmp_path / "chat.json"
    p.write_text(json.dumps([convo, convo]), encoding="utf-8")
    prep = prepare(recipe({"train": f"json:{p}", "split": {"valid": 0.0}}), tok)
    assert [e.source for e in prep.train] == [f"json:{p}:train:0", f"json:{p}:train:1"]
    assert prep.report.sources[0].format == "chat"
    with pytest.raises(
        DataError,
        match=r"chat.json:1: not a JSON object \(got a list\); the file looks like a JSON array",
    ):
        prepare(recipe({"train": str(p)}), tok)  # read as JSON Lines, it is refused
    p.write_text(json.dumps([convo, convo], indent=2), encoding="utf-8")
    with pytest.raises(
        DataError, match=r"chat.json:1: not valid JSON \(.*\); the file looks like a JSON array"
    ):
        prepare(recipe({"train": str(p)}), tok)


def test_hub_dataset_offline_is_a_clear_error(recipe, tok, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as exc:
        prepare(recipe({"train": "kazft-test/no-such-dataset"}), tok)
    msg = str(exc.value)
    assert msg.startswith(
        "kazft-test/no-such-dataset:train: could not load the dataset from the Hugging Face hub"
    )
    assert "Check the name, the split, your network" in msg


def test_missing_loader_files(tmp_path, recipe, tok):
    with pytest.raises(
        DataError,
        match=r"^parquet:.*nothing\*\.parquet:train: could not load the dataset from local files",
    ):
        prepare(recipe({"train": f"parquet:{tmp_path}/nothing*.parquet"}), tok)
