"""`kazft data <verb>` run as a user would, including the bad-input messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.cli import main

from .docx_builder import para, table, write_docx


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_detect(tmp_path, capsys):
    src = jsonl(
        tmp_path / "d.jsonl",
        [
            {"instruction": "Қазақстан Республикасы қай жерде?", "output": "Орталық Азияда."},
            {"instruction": "Qazaqstan Respýblıkasy qaıda?", "output": "Ortalyq Azııada."},
            {"instruction": "Қазақстaн", "output": ""},
        ],
    )
    assert main(["data", "detect", str(src)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["record"], r["script"], r["script_confidence"], r["language"]) for r in rows] == [
        (f"{src}:1", "cyrillic", 1.0, "kk"),
        (f"{src}:2", "latin2018", 1.0, "kk"),
        (f"{src}:3", "mixed", 1.0, "kk"),
    ]
    assert "script latin2018" in err and "language kk" in err


def test_normalize(tmp_path, capsys):
    src = jsonl(
        tmp_path / "n.jsonl",
        [
            {
                "instruction": 'Қазақстaн\u00a0туралы "айт"',
                "input": "",
                "output": "Əлем - ɵмір",
                "category": "x",
            },
        ],
    )
    out = tmp_path / "o.jsonl"
    assert (
        main(
            [
                "data",
                "normalize",
                str(src),
                "-o",
                str(out),
                "--quotes",
                "guillemets",
                "--dashes",
                "em",
            ]
        )
        == 0
    )
    assert read_jsonl(out) == [
        {
            "instruction": "Қазақстан туралы «айт»",
            "input": "",
            "output": "Әлем — өмір",
            "category": "x",
        }
    ]
    err = capsys.readouterr().err
    assert "lookalike (characters)" in err and "records changed" in err
    # idempotent through the CLI as well
    again = tmp_path / "o2.jsonl"
    assert (
        main(
            [
                "data",
                "normalize",
                str(out),
                "-o",
                str(again),
                "--quotes",
                "guillemets",
                "--dashes",
                "em",
                "-q",
            ]
        )
        == 0
    )
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_translit_and_measure(tmp_path, capsys):
    src = tmp_path / "t.txt"
    src.write_text("Qazaqstan Respýblıkasy\nMen bügın üige baramyn\n", encoding="utf-8")
    assert main(["data", "translit", str(src), "--to", "cyrillic"]) == 0
    out, err = capsys.readouterr()
    assert out == "Қазақстан Республикасы\nМен бүгін үйге барамын\n"
    assert "texts read as latin2018" in err and "texts read as latin2021" in err
    cyr = tmp_path / "c.txt"
    cyr.write_text("Қазақстан Республикасы\n", encoding="utf-8")
    assert main(["data", "translit", str(cyr), "--to", "latin2021", "--fields", "instruction"]) == 0
    assert capsys.readouterr().out == "Qazaqstan Respublikasy\n"
    assert main(["data", "translit", str(cyr), "--to", "latin2018", "--measure"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["characters"], report["char_errors"], report["char_accuracy"]) == (22, 0, 1.0)


def test_extract(tmp_path, capsys):
    doc = write_docx(
        tmp_path / "z.docx",
        para("Осы Заң Қ.Тоқаев қол қойған. Күшіне енеді.") + table([["52-бабы", "Сот."]]),
    )
    out = tmp_path / "s.jsonl"
    assert main(["data", "extract", str(doc), "-o", str(out)]) == 0
    assert read_jsonl(out) == [
        {"text": "Осы Заң Қ.Тоқаев қол қойған.", "source": str(doc), "block": 1, "sentence": 1},
        {"text": "Күшіне енеді.", "source": str(doc), "block": 1, "sentence": 2},
        {
            "text": "52-бабы",
            "source": str(doc),
            "block": 2,
            "table": 1,
            "row": 1,
            "cell": 1,
            "sentence": 1,
        },
        {
            "text": "Сот.",
            "source": str(doc),
            "block": 3,
            "table": 1,
            "row": 1,
            "cell": 2,
            "sentence": 1,
        },
    ]
    capsys.readouterr()
    assert main(["data", "extract", str(doc), "-q"]) == 0
    assert capsys.readouterr().out == "Осы Заң Қ.Тоқаев қол қойған.\nКүшіне енеді.\n52-бабы\nСот.\n"


def test_dedup(tmp_path, capsys):
    a = "Қазақстан Республикасы өзін демократиялық, зайырлы, құқықтық мемлекет ретінде орнықтырады."
    train = jsonl(
        tmp_path / "train.jsonl",
        [
            {"instruction": a, "output": "1"},
            {"instruction": a, "output": "1"},
            {"instruction": "Басқа сұрақ", "output": "2"},
        ],
    )
    test = jsonl(tmp_path / "test.jsonl", [{"instruction": "Басқа сұрақ", "output": "2"}])
    out = tmp_path / "clean"
    out.mkdir()
    clusters = tmp_path / "clusters.jsonl"
    assert (
        main(
            [
                "data",
                "dedup",
                str(train),
                "--test",
                str(test),
                "--out-dir",
                str(out),
                "--threshold",
                "0.9",
                "--clusters",
                str(clusters),
            ]
        )
        == 0
    )
    assert read_jsonl(out / "train.jsonl") == [{"instruction": a, "output": "1"}]
    assert read_jsonl(out / "test.jsonl") == [{"instruction": "Басқа сұрақ", "output": "2"}]
    assert [c["kept"] for c in read_jsonl(clusters)] == [f"{test}:1", f"{train}:1"]
    assert "2 clusters" in capsys.readouterr().err
    assert main(["data", "dedup", str(train), str(test)]) == 2
    assert "--out-dir" in capsys.readouterr().err


def test_convert(tmp_path, capsys):
    src = tmp_path / "qa.csv"
    src.write_text("question,answer\nНеке жасы?,18 жас.\n", encoding="utf-8")
    out = tmp_path / "qa.jsonl"
    assert (
        main(
            [
                "data",
                "convert",
                str(src),
                "--map",
                "question=instruction,answer=output",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert read_jsonl(out) == [{"instruction": "Неке жасы?", "input": "", "output": "18 жас."}]
    assert "written" in capsys.readouterr().err


def test_stats(tmp_path, capsys):
    from .test_stats import PNG, make_tokenizer

    src = jsonl(
        tmp_path / "d.jsonl",
        [
            {"instruction": "қазақстан тілі", "input": "", "output": "заң", "category": "a"},
            {"instruction": "тіл", "input": "", "output": "заң заң", "category": "b"},
            {"instruction": "тіл", "input": "", "output": "заң", "category": "a"},
        ],
    )
    out = tmp_path / "s.json"
    plots = tmp_path / "plots"
    assert (
        main(
            [
                "data",
                "stats",
                str(src),
                "-o",
                str(out),
                "--plots",
                str(plots),
                "--tokenizer",
                str(make_tokenizer(tmp_path / "tok")),
                "--no-detect",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["categories"] == {"a": 2, "b": 1}
    assert result["fertility"] == {
        "tokenizer": str(tmp_path / "tok"),
        "words": 8,
        "tokens": 10,
        "tokens_per_word": 1.25,
        "split_share": 0.25,
    }
    assert result["lengths"]["output"]["words"] == {
        "count": 3,
        "min": 1,
        "p50": 1,
        "p90": 2,
        "p99": 2,
        "max": 2,
        "mean": 1.3,
    }
    assert [Path(p).read_bytes()[:8] for p in result["plots"]] == [PNG] * 3
    assert "tokens per word" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("verb", "name", "content", "extra", "message"),
    [
        (
            "normalize",
            "bad.jsonl",
            b'{"instruction": "a"}\n{"instruction": "\xff"}\n',
            [],
            "bad.jsonl:2: byte 0xff at column 18 is not valid utf-8",
        ),
        (
            "extract",
            "bad.docx",
            b"PK not really a zip",
            [],
            "bad.docx: not a .docx file (not a zip archive)",
        ),
        ("translit", "empty.txt", b"", ["--to", "latin2021"], "empty.txt: file is empty"),
        (
            "convert",
            "qa.csv",
            "вопрос,ответ\nа,б\n".encode(),
            ["--map", "question=instruction"],
            "qa.csv:1: column 'question' named in --map is not in the file (columns: вопрос, ответ)",
        ),
        (
            "detect",
            "bad.jsonl",
            b'{"instruction": "a"}\nnot json\n',
            [],
            "bad.jsonl:2: invalid JSON at column 1",
        ),
        ("stats", "missing.jsonl", None, [], "missing.jsonl: no such file"),
    ],
)
def test_bad_input_messages(tmp_path, capsys, verb, name, content, extra, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out.txt"
    assert main(["data", verb, str(path), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kazft: error: {path}")
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
