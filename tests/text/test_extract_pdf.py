"""extract on PDFs with a text layer: pages, running headers, page numbers, hyphenation."""

from __future__ import annotations

import pytest

from kazft.errors import DataError
from kazft.text.extract import read_document
from kazft.text.layout import PageLines, join_hyphenated, paragraphs, strip_running_lines

from .doc_builders import write_pdf

HEADER = "Қазақстан Республикасының Азаматтық кодексі"
PAGE1 = [
    "1-бап. Азаматтық заңнаманың міндеттері",
    "Азаматтық заңнама тараптардың теңдігін, меншікке қол сұғылмаушылықты және шарт "
    "еркіндігін тану негізінде қоғамдық қатынастарды реттейді. Әрбір тұлға өз құқықтарын "
    "қорғауға құқылы, ал мемлекет оларды сот арқылы қорғауға міндетті.",
]
PAGE2 = [
    "Статья 2. Основные начала гражданского законодательства",
    "Гражданское законодательство основывается на признании равенства участников "
    "регулируемых им отношений, неприкосновенности собственности и свободы договора.",
]


def test_two_page_pdf_pages_headers_and_page_numbers_removed(tmp_path):
    pdf = write_pdf(tmp_path / "law.pdf", [PAGE1, PAGE2], header=HEADER)
    doc = read_document(pdf)
    texts = [(b.page, b.index, b.text) for b in doc.blocks]
    assert texts == [
        (1, 1, PAGE1[0]),
        (1, 2, PAGE1[1]),
        (2, 1, PAGE2[0]),
        (2, 2, PAGE2[1]),
    ]
    # The header and the page numbers were removed from both pages, and counted.
    assert doc.running_lines == {HEADER: 2, "1": 1, "2": 1}
    # The running header names the act when the text has no title of its own.
    assert doc.act_name() == HEADER


def test_hyphen_at_line_end_repaired_in_a_pdf(tmp_path):
    # A narrow column forces fpdf2 to break inside words; we break them ourselves
    # with a hyphen, as typesetters do, and expect the words back whole.
    lines = (
        "Жұмыс беруші еңбекақыны уақтылы төлеуге міндет-\nті. Қызметкер еңбек тәр-\nтібін сақтайды."
    )
    pdf = write_pdf(tmp_path / "h.pdf", [[lines]], page_numbers=False)
    (block,) = read_document(pdf).blocks
    assert (
        block.text
        == "Жұмыс беруші еңбекақыны уақтылы төлеуге міндетті. Қызметкер еңбек тәртібін сақтайды."
    )


def test_join_hyphenated_rules():
    assert join_hyphenated("төлеуге міндет-", "ті.", set()) == "төлеуге міндетті."
    assert join_hyphenated("осы Кодекстің 52-", "бабы", set()) == "осы Кодекстің 52-бабы"
    assert join_hyphenated("Алматы-", "Астана жолы", set()) == "Алматы- Астана жолы"
    assert join_hyphenated("міндет\u00ad", "ті", set()) == "міндетті"
    compound = {"әлеуметтік-экономикалық"}
    assert (
        join_hyphenated("әлеуметтік-", "экономикалық даму", compound)
        == "әлеуметтік-экономикалық даму"
    )
    assert join_hyphenated("бірінші", "екінші", set()) == "бірінші екінші"


def test_running_lines_need_most_pages():
    pages = [
        PageLines(1, ["Кодекс", "Бірінші бет мәтіні.", "Бет 1"]),
        PageLines(2, ["Кодекс", "Екінші бет мәтіні.", "Бет 2"]),
        PageLines(3, ["Басқа тақырып", "Үшінші бет мәтіні.", "Бет 3"]),
    ]
    removed = strip_running_lines(pages)
    assert removed == {"Кодекс": 2, "Бет 1": 1, "Бет 2": 1, "Бет 3": 1}
    assert [p.lines for p in pages] == [
        ["Бірінші бет мәтіні."],
        ["Екінші бет мәтіні."],
        ["Басқа тақырып", "Үшінші бет мәтіні."],
    ]
    single = [PageLines(1, ["Кодекс", "Мәтін.", "1"])]
    assert strip_running_lines(single) == {}
    assert single[0].lines == ["Кодекс", "Мәтін.", "1"]


def test_paragraphs_break_at_headings_list_items_and_short_final_lines():
    page = PageLines(
        1,
        [
            "52-бап. Еңбек шартын жасасу",
            "1. Еңбек шарты жазбаша нысанда жасалады және оған тараптар қол қояды, ал бір",
            "данасы қызметкерге беріледі.",
            "2. Шарттың мерзімі көрсетіледі.",
            "Статья 53. Срок трудового договора",
        ],
    )
    assert paragraphs(page, set()) == [
        "52-бап. Еңбек шартын жасасу",
        "1. Еңбек шарты жазбаша нысанда жасалады және оған тараптар қол қояды, ал бір "
        "данасы қызметкерге беріледі.",
        "2. Шарттың мерзімі көрсетіледі.",
        "Статья 53. Срок трудового договора",
    ]


def test_page_without_text_or_image_is_reported(tmp_path):
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.rect(20, 20, 100, 50)
    pdf.output(str(tmp_path / "drawing.pdf"))
    doc = read_document(tmp_path / "drawing.pdf")
    assert doc.blocks == []
    assert [(r.page, r.ocr, r.kept, r.note) for r in doc.pages] == [
        (1, False, True, "no text layer and no image to OCR")
    ]


def test_password_protected_and_damaged_pdfs_are_user_errors(tmp_path):
    from pypdf import PdfReader, PdfWriter

    plain = write_pdf(tmp_path / "plain.pdf", [PAGE1])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="құпия", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(DataError, match="locked.pdf: the PDF is password-protected"):
        read_document(tmp_path / "locked.pdf")
    # "Protected" against copying only (owner password, AES, empty user password): readable.
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="", owner_password="иесі", algorithm="AES-256")
    writer.write(tmp_path / "aes.pdf")
    assert [b.text for b in read_document(tmp_path / "aes.pdf").blocks] == [*PAGE1, "1"]
    (tmp_path / "cut.pdf").write_bytes(plain.read_bytes()[:200])
    with pytest.raises(DataError, match="cut.pdf: not a readable PDF"):
        read_document(tmp_path / "cut.pdf")


def test_look_alikes_and_soft_hyphens_repaired_by_default(tmp_path, capsys):
    from kazft.cli import main

    # Latin a, o, e, i inside Kazakh words and a soft hyphen, as OCR and some PDFs leave them.
    broken = "Қaзaқстaн Республикaсының Конститу\u00adциясы жоғaры зaңдық күші бaр құжат."
    pdf = write_pdf(tmp_path / "lk.pdf", [[broken]], page_numbers=False)
    out = tmp_path / "o.txt"
    assert main(["data", "extract", str(pdf), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == (
        "Қазақстан Республикасының Конституциясы жоғары заңдық күші бар құжат.\n"
    )
    assert "lookalike" in capsys.readouterr().err
    assert main(["data", "extract", str(pdf), "--no-normalize", "-q"]) == 0
    assert "Қaзaқстaн" in capsys.readouterr().out


def test_paragraph_broken_by_the_page_end_is_one_block(tmp_path):
    pdf = write_pdf(
        tmp_path / "p.pdf",
        [
            ["3-бап. Сот төрелігі", "Сот төрелігін тек сот жүзеге асырады, ал соттың шешімдері"],
            ["барлық мемлекеттік органдар үшін міндетті.", "Статья 4. Суды"],
        ],
        header=HEADER,
    )
    blocks = [(b.page, b.index, b.text) for b in read_document(pdf).blocks]
    assert blocks == [
        (1, 1, "3-бап. Сот төрелігі"),
        (
            1,
            2,
            "Сот төрелігін тек сот жүзеге асырады, ал соттың шешімдері барлық мемлекеттік "
            "органдар үшін міндетті.",
        ),
        (2, 2, "Статья 4. Суды"),
    ]


def test_alternating_headers_removed():
    bodies = ["Бірінші бет.", "Екінші бет.", "Үшінші бет.", "Төртінші бет."]
    heads = ["Кодекс", "1-тарау", "Кодекс", "1-тарау"]
    pages = [
        PageLines(n, [head, body, str(n)])
        for n, (head, body) in enumerate(zip(heads, bodies, strict=True), 1)
    ]
    removed = strip_running_lines(pages)
    assert removed["Кодекс"] == 2 and removed["1-тарау"] == 2
    assert [p.lines for p in pages] == [[b] for b in bodies]
