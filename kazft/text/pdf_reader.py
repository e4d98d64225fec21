"""PDF pages through pypdf: the text layer, or the page's scan image for OCR.

pypdf is chosen over pdfplumber and PyMuPDF: it is BSD-licensed (PyMuPDF is
AGPL, which would bind everyone who ships kazft), pure Python (one wheel for
macOS, Linux and Windows, nothing to compile), maps Cyrillic through the
fonts' ToUnicode tables, and gives the text in content-stream order, which is
reading order for the single-column statutes and decisions this is for.
pdfplumber (MIT) is built on pdfminer.six and reorders by position, which
helps multi-column layouts, but is several times slower per page.

A scanned PDF page is a full-page image: pypdf hands it over decoded, so OCR
needs no renderer. Pages whose text is drawn as vector shapes (neither text
layer nor image) cannot be read this way and are reported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.errors import DataError

MIN_TEXT_CHARS = 20  # a page with fewer non-space characters "has no text layer"


@dataclass
class PdfPage:
    number: int  # from 1
    text: str
    width_in: float  # page width in inches (for the scan's resolution)
    images: list[Any]  # PIL images, largest first, only when wanted

    @property
    def has_text(self) -> bool:
        return sum(not c.isspace() for c in self.text) >= MIN_TEXT_CHARS


def open_pdf(path: Path) -> Any:
    """A pypdf reader; user errors (not a PDF, encrypted) as DataError."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs recoverable damage ("incorrect startxref") as warnings; the
    # text still comes out, so keep them off the user's terminal.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            try:
                ok = bool(reader.decrypt(""))
            except Exception:  # noqa: BLE001 - pypdf raises several types here
                ok = False
            if not ok:
                raise DataError(f"{path}: the PDF is password-protected; save an unlocked copy")
        len(reader.pages)
    except PdfReadError as err:
        raise DataError(f"{path}: not a readable PDF ({err})") from None
    return reader


def page_count(path: Path) -> int:
    return len(open_pdf(path).pages)


def pdf_title(reader: Any) -> str | None:
    try:
        title = (reader.metadata or {}).get("/Title")
    except Exception:  # noqa: BLE001 - damaged info dictionaries are common
        return None
    return str(title).strip() or None if title else None


def _page_images(page: Any, path: Path, number: int) -> list[Any]:
    """The page's images large enough to be a scan, largest first."""
    try:
        images = [img.image for img in page.images]
    except Exception as err:  # noqa: BLE001 - pypdf raises per filter (JBIG2, CCITT, ...)
        raise DataError(
            f"{path}: page {number}: cannot decode the page image for OCR ({err}); "
            "JBIG2 scans need the jbig2dec program"
        ) from None
    images = [im for im in images if im is not None]
    if not images:
        return []
    images.sort(key=lambda im: im.width * im.height, reverse=True)
    largest = images[0].width * images[0].height
    return [im for im in images if im.width * im.height * 4 >= largest]


def read_pages(path: Path, want_images: str = "auto") -> Iterator[PdfPage]:
    """Pages in order; images decoded when ``want_images`` is 'always', or 'auto' and no text."""
    reader = open_pdf(path)
    for number, page in enumerate(reader.pages, 1):
        try:
            text = page.extract_text() or ""
        except Exception as err:  # noqa: BLE001 - damaged content streams
            raise DataError(f"{path}: page {number}: cannot read the text ({err})") from None
        width_in = float(page.mediabox.width) / 72 or 8.27
        item = PdfPage(number, text, width_in, [])
        if want_images == "always" or (want_images == "auto" and not item.has_text):
            item.images = _page_images(page, path, number)
        yield item
