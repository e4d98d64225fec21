"""extract: .docx (paragraphs and tables in order), .txt, .md; bad documents."""

from __future__ import annotations

import pytest

from kazft.errors import DataError
from kazft.text.docx_reader import read_docx
from kazft.text.extract import extract_sentences

from .docx_builder import para, table, write_docx


@pytest.fixture
def legal_docx(tmp_path):
    body = (
        para("1-бап. Жалпы ережелер")
        + para("Осы Заң ", "ҚР Конституциясына негізделеді. ", "Оны Қ.Тоқаев қол қойды.")
        + table([["Бап", "Мазмұны"], ["52-бабы", "Сот. Төрелік т.б. мәселелер."]])
        + para("")
        + para("Соңғы", "\t", "абзац.", "\n", "Жаңа жол.")
    )
    return write_docx(tmp_path / "zan.docx", body)


def test_docx_blocks_in_document_order(legal_docx):
    blocks = [(b.text, b.index, b.table, b.row, b.cell) for b in read_docx(legal_docx)]
    assert blocks == [
        ("1-бап. Жалпы ережелер", 1, None, None, None),
        ("Осы Заң ҚР Конституциясына негізделеді. Оны Қ.Тоқаев қол қойды.", 2, None, None, None),
        ("Бап", 3, 1, 1, 1),
        ("Мазмұны", 4, 1, 1, 2),
        ("52-бабы", 5, 1, 2, 1),
        ("Сот. Төрелік т.б. мәселелер.", 6, 1, 2, 2),
        ("", 7, None, None, None),
        ("Соңғы\tабзац.\nЖаңа жол.", 8, None, None, None),
    ]


def test_docx_sentences_with_positions(legal_docx):
    got = [s.to_json() for s in extract_sentences(legal_docx)]
    src = str(legal_docx)
    assert got == [
        {"text": "1-бап. Жалпы ережелер", "source": src, "block": 1, "sentence": 1},
        {
            "text": "Осы Заң ҚР Конституциясына негізделеді.",
            "source": src,
            "block": 2,
            "sentence": 1,
        },
        {"text": "Оны Қ.Тоқаев қол қойды.", "source": src, "block": 2, "sentence": 2},
        {"text": "Бап", "source": src, "block": 3, "table": 1, "row": 1, "cell": 1, "sentence": 1},
        {
            "text": "Мазмұны",
            "source": src,
            "block": 4,
            "table": 1,
            "row": 1,
            "cell": 2,
            "sentence": 1,
        },
        {
            "text": "52-бабы",
            "source": src,
            "block": 5,
            "table": 1,
            "row": 2,
            "cell": 1,
            "sentence": 1,
        },
        {"text": "Сот.", "source": src, "block": 6, "table": 1, "row": 2, "cell": 2, "sentence": 1},
        {
            "text": "Төрелік т.б. мәселелер.",
            "source": src,
            "block": 6,
            "table": 1,
            "row": 2,
            "cell": 2,
            "sentence": 2,
        },
        {"text": "Соңғы\tабзац.", "source": src, "block": 8, "sentence": 1},
        {"text": "Жаңа жол.", "source": src, "block": 8, "sentence": 2},
    ]


def test_no_split_joins_whitespace(legal_docx):
    texts = [s.text for s in extract_sentences(legal_docx, split=False)]
    assert texts[-1] == "Соңғы абзац. Жаңа жол."


def test_txt_and_markdown(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("Бірінші сөйлем. Екінші сөйлем.\n\nҮшінші.\n", encoding="utf-8")
    assert [(s.text, s.block, s.sentence) for s in extract_sentences(txt)] == [
        ("Бірінші сөйлем.", 1, 1),
        ("Екінші сөйлем.", 1, 2),
        ("Үшінші.", 3, 1),
    ]
    md = tmp_path / "b.md"
    md.write_text(
        "# Тақырып\n\n- **Бірінші** тармақ. [Сілтеме](https://x.kz) бар.\n"
        "```\nкод. Код.\n```\n| Бап | Мәтін |\n|---|---|\n| 1 | Сөз. |\n",
        encoding="utf-8",
    )
    assert [(s.text, s.block) for s in extract_sentences(md)] == [
        ("Тақырып", 1),
        ("Бірінші тармақ.", 3),
        ("Сілтеме бар.", 3),
        ("Бап", 7),
        ("Мәтін", 7),
        ("1", 9),
        ("Сөз.", 9),
    ]


def test_bad_documents(tmp_path):
    not_zip = tmp_path / "bad.docx"
    not_zip.write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match=r"bad.docx: not a .docx file \(not a zip archive\)"):
        list(extract_sentences(not_zip))
    empty = tmp_path / "empty.docx"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.docx: file is empty"):
        list(extract_sentences(empty))
    no_text = write_docx(tmp_path / "blank.docx", para("") + para("  "))
    with pytest.raises(DataError, match="blank.docx: the document has no text"):
        list(extract_sentences(no_text))
    import zipfile

    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("word/document.xml", "<w:document><w:body>")
    with pytest.raises(DataError, match=r"broken.docx: word/document.xml:1:\d+: malformed XML"):
        list(extract_sentences(broken))
    other_zip = tmp_path / "other.docx"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("x.txt", "x")
    with pytest.raises(DataError, match="other.docx: no word/document.xml inside"):
        list(extract_sentences(other_zip))


def test_docx_text_python_docx_would_lose_is_kept(tmp_path):
    """Why the reader walks the XML itself (python-docx 1.2, measured in docs/data-tools.md):
    iter_inner_content() skips content controls (w:sdt), Paragraph.text drops tracked
    insertions (w:ins), and row.cells repeats a merged cell once per grid column."""
    body = (
        para("Бірінші.")
        + "<w:sdt><w:sdtContent>"
        + para("Мазмұнды басқару элементіндегі мәтін.")
        + "</w:sdtContent></w:sdt>"
        + '<w:p><w:r><w:t xml:space="preserve">Түзету </w:t></w:r>'
        + '<w:ins w:id="1" w:author="a"><w:r><w:t>қосылған</w:t></w:r></w:ins>'
        + '<w:del w:id="2" w:author="a"><w:r><w:delText>жойылған</w:delText></w:r></w:del>'
        + '<w:r><w:t xml:space="preserve"> сөз.</w:t></w:r></w:p>'
        + '<w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr>'
        + para("Біріккен")
        + "</w:tc></w:tr><w:tr><w:tc>"
        + para("а")
        + "</w:tc><w:tc>"
        + para("б")
        + "</w:tc></w:tr></w:tbl>"
    )
    doc = write_docx(tmp_path / "t.docx", body)
    assert [b.text for b in read_docx(doc)] == [
        "Бірінші.",
        "Мазмұнды басқару элементіндегі мәтін.",
        "Түзету қосылған сөз.",
        "Біріккен",
        "а",
        "б",
    ]
    import docx
    from docx.text.paragraph import Paragraph

    seen = []
    for item in docx.Document(str(doc)).iter_inner_content():
        if isinstance(item, Paragraph):
            seen.append(item.text)
        else:
            seen += [cell.text for row in item.rows for cell in row.cells]
    assert seen == ["Бірінші.", "Түзету  сөз.", "Біріккен", "Біріккен", "а", "б"]


def test_docx_statute_split_into_articles(tmp_path):
    from kazft.text.extract import document_articles, read_document

    doc = write_docx(
        tmp_path / "zan.docx",
        para("Неке (ерлі-зайыптылық) және отбасы туралы")
        + para("1-тарау. Жалпы ережелер")
        + para("1-бап. Негізгі ұғымдар")
        + para("Осы Кодексте пайдаланылатын ұғымдар.")
        + para("")
        + para("2-бап. Неке жасы")
        + table([["Жас", "18"]]),
    )
    articles = list(document_articles(read_document(doc)))
    assert [(a["article"], a["title"], a["block"]) for a in articles] == [
        (None, None, 1),
        ("1", "Негізгі ұғымдар", 3),
        ("2", "Неке жасы", 6),
    ]
    assert articles[1]["act"] == "Неке (ерлі-зайыптылық) және отбасы туралы"
    assert articles[2]["text"] == "2-бап. Неке жасы\nЖас\n18"
