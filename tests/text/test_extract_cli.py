"""`kazft data extract law.pdf scan.png statute.html --split articles -o articles.jsonl`."""

from __future__ import annotations

import json
import re

import pytest

from kazft.cli import main

from .doc_builders import needs_tesseract, render_page, write_pdf
from .test_extract_html import STATUTE_PAGE

LAW_PAGES = [
    [
        "Қазақстан Республикасының Жер кодексі",
        "1-тарау. Жалпы ережелер",
        "1-бап. Жер заңнамасының міндеттері",
        "Жер заңнамасының міндеттері жерді ұтымды пайдалану мен қорғау үшін жағдай жасау "
        "болып табылады.",
        "2-бап. Жерге меншік",
        "Жер мемлекеттік меншікте болады.",
    ],
    [
        "Статья 3. Принципы земельного законодательства",
        "Земельное законодательство основывается на принципах целостности и неприкосновенности "
        "территории.",
    ],
]
SCAN_TEXT = "17-бап. Азаматтардың құқықтары\nАзаматтар жер учаскесін жалға алуға құқылы."


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    needs_tesseract()
    monkeypatch.chdir(tmp_path)
    write_pdf(tmp_path / "law.pdf", LAW_PAGES, header="ҚР Жер кодексі")
    render_page(tmp_path / "scan.png", SCAN_TEXT)
    (tmp_path / "statute.html").write_text(STATUTE_PAGE, encoding="utf-8")
    return tmp_path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_issue_command(inputs, capsys):
    argv = "data extract law.pdf scan.png statute.html --split articles -o articles.jsonl"
    assert main(argv.split()) == 0
    records = read_jsonl(inputs / "articles.jsonl")
    got = [(r["source"], r["article"], r.get("page")) for r in records]
    assert got == [
        ("law.pdf", None, 1),
        ("law.pdf", "1", 1),
        ("law.pdf", "2", 1),
        ("law.pdf", "3", 2),
        ("scan.png", "17", 1),
        ("statute.html", None, None),
        ("statute.html", "1", None),
        ("statute.html", "2", None),
        ("statute.html", "3", None),
    ]
    law = records[1]
    assert law["act"] == "Қазақстан Республикасының Жер кодексі"
    assert law["chapter"] == "1-тарау. Жалпы ережелер"
    assert law["title"] == "Жер заңнамасының міндеттері"
    assert law["text"] == (
        "1-бап. Жер заңнамасының міндеттері\nЖер заңнамасының міндеттері жерді ұтымды "
        "пайдалану мен қорғау үшін жағдай жасау болып табылады."
    )
    assert "ҚР Жер кодексі" not in json.dumps(records, ensure_ascii=False)
    scan = records[4]
    assert scan["title"] == "Азаматтардың құқықтары"
    assert scan["text"].endswith("жер учаскесін жалға алуға құқылы.")
    assert scan["ocr_confidence"] >= 80
    err = capsys.readouterr().err
    for row in ("files", "pages OCR'd", "records", "characters", "languages found"):
        assert row in err
    assert re.search(r"│ pages +│ +3 │", err)  # 2 PDF pages + 1 scan
    assert re.search(r"│ pages OCR'd +│ +1 │", err)
    assert re.search(r"│ records +│ +9 │", err)


def test_completion_format_feeds_the_trainer(inputs):
    from kazft.data.records import parse_record
    from kazft.recipe import DataSection

    out = inputs / "cpt.jsonl"
    argv = ["data", "extract", "law.pdf", "--split", "articles", "--format", "completion"]
    assert main([*argv, "-o", str(out)]) == 0
    records = read_jsonl(out)
    assert records[1]["prompt"] == (
        "Қазақстан Республикасының Жер кодексі\n1-тарау. Жалпы ережелер\n"
        "1-бап. Жер заңнамасының міндеттері"
    )
    assert records[1]["completion"].startswith("Жер заңнамасының міндеттері жерді")
    section = DataSection(train="cpt.jsonl")
    for i, obj in enumerate(records, 1):
        assert parse_record(obj, f"cpt.jsonl:{i}", section, None).format == "completion"
    assert main([*argv, "--act", "ҚР Жер кодексі (2003)", "-o", str(out)]) == 0
    records = read_jsonl(out)
    assert {r["act"] for r in records} == {"ҚР Жер кодексі (2003)"}
    assert records[1]["prompt"].startswith("ҚР Жер кодексі (2003)\n1-тарау.")


def test_sentences_and_paragraphs_and_text_output(inputs, capsys):
    assert main(["data", "extract", "law.pdf", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Жер мемлекеттік меншікте болады." in lines
    assert main(["data", "extract", "law.pdf", "--split", "paragraphs", "-q"]) == 0
    paragraphs = capsys.readouterr().out.splitlines()
    assert len(paragraphs) == len(LAW_PAGES[0]) + len(LAW_PAGES[1])
    assert main(["data", "extract", "law.pdf", "--split", "articles", "-q"]) == 0
    articles = capsys.readouterr().out.split("\n\n")
    assert articles[1].startswith("1-бап. Жер заңнамасының міндеттері\n")


def test_user_errors(inputs, capsys):
    assert main(["data", "extract", "missing.pdf"]) == 2
    assert "missing.pdf: no such file" in capsys.readouterr().err
    (inputs / "bad.pdf").write_bytes(b"%PDF-1.4 not really")
    assert main(["data", "extract", "bad.pdf"]) == 2
    err = capsys.readouterr().err
    assert "bad.pdf: not a readable PDF" in err and "Traceback" not in err
    assert main(["data", "extract", "scan.png", "--ocr", "never"]) == 2
    assert "only be read with OCR" in capsys.readouterr().err
    assert main(["data", "extract", "law.pdf", "--format", "completion"]) == 2
    assert "--split articles" in capsys.readouterr().err


def test_progress_bar_from_two_pages(monkeypatch):
    from kazft.text.progress import progress_wanted

    monkeypatch.delenv("KAZFT_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert progress_wanted(2, min_total=1) and not progress_wanted(1, min_total=1)


def test_extract_output_chains_into_normalize_dedup_and_stats(inputs, capsys):
    """Articles from a PDF, a scan and a web page, then the other verbs with no flags."""
    argv = "data extract law.pdf scan.png statute.html law.pdf --split articles -o a.jsonl"
    assert main(argv.split()) == 0  # law.pdf twice: dedup must find the copies
    articles = read_jsonl(inputs / "a.jsonl")
    assert len(articles) == 13
    capsys.readouterr()
    assert main(["data", "normalize", "a.jsonl", "-o", "n.jsonl"]) == 0
    err = capsys.readouterr().err
    assert "text (auto)" in err
    assert read_jsonl(inputs / "n.jsonl") == articles  # extract already normalised
    assert main(["data", "dedup", "n.jsonl", "-o", "d.jsonl"]) == 0
    capsys.readouterr()
    kept = read_jsonl(inputs / "d.jsonl")
    assert kept == articles[:9]  # the second law.pdf's 4 records were exact copies
    assert main(["data", "stats", "d.jsonl", "-o", "s.json"]) == 0
    report = json.loads((inputs / "s.json").read_text(encoding="utf-8"))
    assert report["fields"] == "text (auto)"
    assert report["records"] == 9
    assert report["languages"].get("kk", 0) >= 7 and report["languages"].get("ru", 0) >= 1


def test_a_folder_of_documents(inputs, capsys):
    folder = inputs / "acts"
    (folder / "old").mkdir(parents=True)
    (inputs / "law.pdf").rename(folder / "law.pdf")
    (inputs / "statute.html").rename(folder / "old" / "statute.html")
    (folder / "notes.bin").write_bytes(b"\x00")
    out = folder / "all.txt"
    out.write_text("an earlier run\n", encoding="utf-8")
    assert main(["data", "extract", "acts", "--split", "paragraphs", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"│ files +│ +2 │", err)  # law.pdf and old/statute.html; not all.txt
    text = out.read_text(encoding="utf-8")
    assert "Жер мемлекеттік меншікте болады." in text and "3-бап. Заңдылық" in text
    assert "an earlier run" not in text
    (inputs / "empty").mkdir()
    assert main(["data", "extract", "empty"]) == 2
    assert "empty: no .docx" in capsys.readouterr().err
