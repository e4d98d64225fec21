"""convert: CSV, TSV, JSON, JSONL, Parquet and datasets to kazft JSONL."""

from __future__ import annotations

import io
import json

import pytest

from kazft.errors import DataError
from kazft.text.tabular import convert_table, open_table, parse_mapping

MAP = "question=instruction,answer=output,topic=category"
EXPECTED = [
    {"instruction": "Неке жасы қандай?", "input": "", "output": "18 жас.", "category": "отбасы"},
    {
        "instruction": "Салық, мөлшерлеме?",
        "input": "",
        "output": "12 %.\nЖол 2.",
        "category": "салық",
    },
]


def run(path, spec=MAP, fmt=None, split=None):
    out = io.StringIO()
    stats = convert_table(open_table(str(path), fmt, split=split), parse_mapping(spec), out)
    return [json.loads(line) for line in out.getvalue().splitlines()], stats


def test_csv_with_quotes_and_newlines(tmp_path):
    src = tmp_path / "qa.csv"
    src.write_text(
        "question,answer,topic,extra\n"
        "Неке жасы қандай?,18 жас.,отбасы,x\n"
        '"Салық, мөлшерлеме?","12 %.\nЖол 2.",салық,y\n'
        ",бос сұрақ,z,\n",
        encoding="utf-8",
    )
    records, stats = run(src)
    assert records == EXPECTED
    assert stats == {"rows": 3, "written": 2, "skipped (empty)": 1, "first skipped": f"{src}:5"}


def test_tsv_and_default_mapping(tmp_path):
    src = tmp_path / "qa.tsv"
    src.write_text("instruction\toutput\nСұрақ\tЖауап\n", encoding="utf-8")
    records, _ = run(src, spec=None)
    assert records == [{"instruction": "Сұрақ", "input": "", "output": "Жауап"}]


def test_json_and_jsonl(tmp_path):
    rows = [
        {"question": "Неке жасы қандай?", "answer": "18 жас.", "topic": "отбасы"},
        {"question": "Салық, мөлшерлеме?", "answer": "12 %.\nЖол 2.", "topic": "салық"},
    ]
    js = tmp_path / "qa.json"
    js.write_text(json.dumps({"data": rows}, ensure_ascii=False), encoding="utf-8")
    assert run(js)[0] == EXPECTED
    jl = tmp_path / "qa.jsonl"
    jl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert run(jl)[0] == EXPECTED


def test_parquet_and_datasets(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {
        "question": ["Неке жасы қандай?", "Салық, мөлшерлеме?"],
        "answer": ["18 жас.", "12 %.\nЖол 2."],
        "topic": ["отбасы", "салық"],
        "n": [1, None],
    }
    pq.write_table(pa.table(cols), tmp_path / "qa.parquet")
    assert run(tmp_path / "qa.parquet")[0] == EXPECTED
    datasets.Dataset.from_dict(cols).save_to_disk(str(tmp_path / "ds"))
    assert run(tmp_path / "ds")[0] == EXPECTED
    records, _ = run(tmp_path / "ds", spec="question=instruction,answer=output,n=input")
    assert [r["input"] for r in records] == ["1", ""]


def test_mapping_errors(tmp_path):
    src = tmp_path / "qa.csv"
    src.write_text("question,answer\nа,б\n", encoding="utf-8")
    with pytest.raises(
        DataError,
        match=r"qa.csv:1: column 'prompt' named in --map is not in "
        r"the file \(columns: question, answer\)",
    ):
        run(src, spec="prompt=instruction,answer=output")
    with pytest.raises(DataError, match=r"qa.csv:1: no column named 'instruction' or 'output'"):
        run(src, spec=None)
    with pytest.raises(DataError, match="target 'question' is not a kazft field"):
        parse_mapping("answer=question")
    with pytest.raises(DataError, match="'answer' is not SOURCE=TARGET"):
        parse_mapping("answer")
    jl = tmp_path / "qa.jsonl"
    jl.write_text('{"question": "а", "answer": "б"}\n{"answer": "в"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"qa.jsonl:2: field 'question' named in --map is missing"):
        run(jl, spec="question=instruction,answer=output")


def test_bad_files(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(DataError, match="e.csv: file is empty"):
        run(tmp_path / "e.csv")
    (tmp_path / "b.csv").write_bytes("question,answer\nа,б\n".encode() + b"\xff\xfe,x\n")
    with pytest.raises(DataError, match=r"b.csv:3: byte 0xff at column 1 is not valid utf-8"):
        run(tmp_path / "b.csv", spec="question=instruction,answer=output")
    (tmp_path / "p.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="p.parquet: not a Parquet file"):
        run(tmp_path / "p.parquet")
    (tmp_path / "j.json").write_text('[{"a": 1},\n {"a": }]')
    with pytest.raises(DataError, match=r"j.json:2: invalid JSON at column 8"):
        run(tmp_path / "j.json")
    with pytest.raises(DataError, match="x.xlsx: cannot tell the format"):
        run(tmp_path / "x.xlsx")
