"""Streaming input and atomic output."""

from __future__ import annotations

import pytest

from kazft.errors import DataError
from kazft.text.output import atomic_output
from kazft.text.records import parse_fields, read_records
from kazft.text.rewrite import rewrite_file


def test_jsonl_and_text_records(tmp_path):
    jl = tmp_path / "a.jsonl"
    jl.write_text(
        '\ufeff{"instruction": "а", "output": "б", "n": 1}\n\n{"instruction": "в"}\n',
        encoding="utf-8",
    )
    recs = list(read_records(jl))
    assert [(r.where, r.texts()) for r in recs] == [(f"{jl}:1", ["а", "б"]), (f"{jl}:3", ["в"])]
    assert recs[0].mapped(str.upper).dumps() == '{"instruction": "А", "output": "Б", "n": 1}'
    txt = tmp_path / "a.txt"
    txt.write_text("бір\r\n\nекі", encoding="utf-8")
    assert [(r.line, r.text) for r in read_records(txt)] == [(1, "бір"), (2, ""), (3, "екі")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "a.jsonl: file is empty"),
        (b"\n  \n", "a.jsonl: file is empty"),
        (
            b'{"instruction": "a"}\n{"instruction": \xd0"}\n',
            "a.jsonl:2: byte 0xd0 at column 17 is not valid utf-8",
        ),
        (b'{"instruction": "a"}\n{"instruction": }\n', "a.jsonl:2: invalid JSON at column 17"),
        (b'["a"]\n', "a.jsonl:1: expected a JSON object, got list"),
    ],
)
def test_bad_input(tmp_path, content, message):
    path = tmp_path / "a.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        list(read_records(path))


def test_cp1251_by_flag(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("Привет".encode("cp1251"))
    assert [r.text for r in read_records(path, encoding="cp1251")] == ["Привет"]


def test_nothing_written_half_way(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "a"}\n{"instruction": }\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")
    with pytest.raises(DataError):
        rewrite_file(src, out, str.upper)
    assert out.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_in_place_rewrite(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("а\nб\n", encoding="utf-8")
    assert rewrite_file(src, src, str.upper)[:2] == (2, 2)
    assert src.read_text(encoding="utf-8") == "А\nБ\n"


def test_output_folder_must_exist(tmp_path):
    with (
        pytest.raises(DataError, match="output folder does not exist"),
        atomic_output(tmp_path / "no" / "x.txt"),
    ):
        pass


def test_fields():
    assert parse_fields(None) is None  # chosen per file by FieldChoice
    assert parse_fields("instruction, output") == ("instruction", "output")
    with pytest.raises(DataError):
        parse_fields(",")
