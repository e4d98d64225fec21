"""The verbs read each other's output without flags (issue: extract writes ``text``,
the others used to look only at instruction/input/output and report "0 changed")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.cli import main

from .test_cli import jsonl, read_jsonl

KK = "Қазақстан Республикасы өзін құқықтық, зайырлы мемлекет ретінде орнықтырады."
KK_LATIN = "Qazaqstan Respýblıkasy ózin quqyqtyq, zaıyrly memleket retinde ornyqtyrady."


@pytest.fixture
def extracted(tmp_path: Path, capsys) -> Path:
    """What ``kazft data extract`` writes: text records with their positions."""
    doc = tmp_path / "law.txt"
    doc.write_text(f"{KK}\n\n{KK}\n\nҚазақ\u00a0тілі — мемлекеттік тіл.\n", encoding="utf-8")
    out = tmp_path / "sentences.jsonl"
    assert main(["data", "extract", str(doc), "-o", str(out)]) == 0
    capsys.readouterr()
    assert set(read_jsonl(out)[0]) >= {"text", "source"}
    return out


def test_normalize_then_translit_then_detect_read_text_records(tmp_path, extracted, capsys):
    norm = tmp_path / "norm.jsonl"
    assert main(["data", "normalize", str(extracted), "-o", str(norm)]) == 0
    err = capsys.readouterr().err
    assert "fields used" in err and "text (auto)" in err
    assert "\u00a0" not in norm.read_text(encoding="utf-8")
    latin = tmp_path / "latin.jsonl"
    assert main(["data", "translit", str(norm), "--to", "latin2018", "-o", str(latin)]) == 0
    err = capsys.readouterr().err
    assert "text (auto)" in err
    rows = read_jsonl(latin)
    assert rows[0]["text"] == KK_LATIN
    assert rows[0]["source"].endswith("law.txt")  # other fields pass through
    assert main(["data", "detect", str(latin)]) == 0
    out, err = capsys.readouterr()
    scripts = [json.loads(x)["script"] for x in out.splitlines()]
    assert scripts[:2] == ["latin2018"] * 2 and scripts[2].startswith("latin")
    assert "text (auto)" in err


def test_stats_and_dedup_read_text_records(tmp_path, extracted, capsys):
    assert main(["data", "stats", str(extracted), "--no-detect"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["fields"] == "text (auto)"
    assert report["lengths"]["text"]["chars"]["max"] > 0
    out_path = tmp_path / "d.jsonl"
    assert main(["data", "dedup", str(extracted), "-o", str(out_path)]) == 0
    assert len(read_jsonl(out_path)) == 2  # the repeated sentence went


def test_chat_records_are_read_too(tmp_path, capsys):
    src = jsonl(
        tmp_path / "chat.jsonl",
        [{"messages": [{"role": "user", "content": KK}, {"role": "assistant", "content": "Иә."}]}],
    )
    out = tmp_path / "o.jsonl"
    assert main(["data", "translit", str(src), "--to", "latin2018", "-o", str(out)]) == 0
    assert read_jsonl(out)[0]["messages"][0] == {"role": "user", "content": KK_LATIN}


@pytest.mark.parametrize(
    "verb",
    [
        ["normalize"],
        ["translit", "--to", "latin2018"],
        ["detect"],
        ["stats"],
        ["dedup"],
        ["translit", "--to", "latin2018", "--measure"],
    ],
)
def test_absent_fields_fail_instead_of_reporting_zero(tmp_path, capsys, verb):
    src = jsonl(tmp_path / "q.jsonl", [{"question": KK, "answer": "Иә."}])
    out = tmp_path / "o.jsonl"
    assert main(["data", verb[0], str(src), *verb[1:], "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "none of the 1 records has the field(s)" in err
    assert "fields found: answer, question" in err and "--fields" in err
    assert not out.exists()


def test_requested_fields_absent_fail(tmp_path, capsys):
    src = jsonl(tmp_path / "t.jsonl", [{"text": KK}])
    assert main(["data", "normalize", str(src), "--fields", "output", "-o", "-"]) != 0
    assert "has the field(s) output; fields found: text" in capsys.readouterr().err
    assert main(["data", "normalize", str(src), "--fields", "text", "-o", "-"]) == 0


def test_translit_file_alphabet_in_the_cli(tmp_path, capsys):
    src = tmp_path / "law.txt"
    src.write_text(
        "Qazaqstan Respūblikasynyñ Konstitusiasy.\n1-bap. Jalpy erejeler.\n", encoding="utf-8"
    )
    out = tmp_path / "o.txt"
    assert main(["data", "translit", str(src), "--to", "cyrillic", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[1] == "1-бап. Жалпы ережелер."
    assert "latin2021" in capsys.readouterr().err
