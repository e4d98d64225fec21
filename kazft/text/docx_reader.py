"""Text of a .docx file: paragraphs and table cells in document order.

Read with zipfile + ElementTree rather than python-docx. python-docx 1.x does
walk paragraphs and tables in order (``Document.iter_inner_content()``), but,
measured on 1.2.0 (tests/text/test_extract.py), it still loses text a legal
document carries: body-level content controls (w:sdt, common in templates)
are skipped, ``Paragraph.text`` drops tracked insertions (w:ins), and
``row.cells`` repeats a merged cell once per grid column. The walk below
keeps all three, at the cost of reading one XML part by hand.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from kazft.errors import DataError

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
DOCUMENT_PART = "word/document.xml"


@dataclass(frozen=True)
class Block:
    """A paragraph of body text or of one table cell; ``index`` counts from 1.

    Paged sources (PDFs, scans) set ``page`` and count ``index`` within the
    page; OCR'd pages carry the page's mean word ``confidence`` (0-100).
    """

    text: str
    index: int
    table: int | None = None
    row: int | None = None
    cell: int | None = None
    page: int | None = None
    confidence: float | None = None


def paragraph_text(p: ET.Element) -> str:
    """Visible text of a w:p: runs, tabs and breaks; deleted text and field codes skipped."""
    parts: list[str] = []
    for el in p.iter():
        tag = el.tag
        if tag == f"{W}t":
            parts.append(el.text or "")
        elif tag == f"{W}tab":
            parts.append("\t")
        elif tag in (f"{W}br", f"{W}cr"):
            parts.append("\n")
        elif tag == f"{W}noBreakHyphen":
            parts.append("-")
    return "".join(parts)


def _load_body(path: Path) -> ET.Element:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        with zipfile.ZipFile(path) as zf:
            xml = zf.read(DOCUMENT_PART)
    except zipfile.BadZipFile:
        hint = "; save old .doc files as .docx first" if path.suffix.lower() == ".doc" else ""
        raise DataError(f"{path}: not a .docx file (not a zip archive){hint}") from None
    except KeyError:
        raise DataError(f"{path}: no {DOCUMENT_PART} inside; not a Word document") from None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        line, col = err.position
        raise DataError(
            f"{path}: {DOCUMENT_PART}:{line}:{col + 1}: malformed XML ({err.msg})"
        ) from None
    body = root.find(f"{W}body")
    if body is None:
        raise DataError(f"{path}: {DOCUMENT_PART} has no w:body")
    return body


class _Walker:
    def __init__(self) -> None:
        self.index = 0
        self.tables = 0

    def walk(self, parent: ET.Element, where: tuple[int, int, int] | None) -> Iterator[Block]:
        for el in parent:
            if el.tag == f"{W}p":
                self.index += 1
                text = paragraph_text(el)
                if where is None:
                    yield Block(text, self.index)
                else:
                    yield Block(text, self.index, *where)
            elif el.tag == f"{W}tbl":
                yield from self._table(el)
            elif el.tag in (f"{W}sectPr", f"{W}tblPr", f"{W}tcPr", f"{W}trPr"):
                continue
            else:
                # Content controls (w:sdt), custom XML, inserted text: look inside.
                yield from self.walk(el, where)

    def _table(self, tbl: ET.Element) -> Iterator[Block]:
        self.tables += 1
        number = self.tables
        for r, tr in enumerate(tbl.findall(f"{W}tr"), 1):
            for c, tc in enumerate(tr.findall(f"{W}tc"), 1):
                yield from self.walk(tc, (number, r, c))


def read_docx(path: str | Path) -> Iterator[Block]:
    """Blocks of ``path`` in document order (empty paragraphs included)."""
    body = _load_body(Path(path))
    yield from _Walker().walk(body, None)
