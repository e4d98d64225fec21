"""PDFs and scanned images to a Document: text layer or OCR per page, then layout repair.

Per page: the text layer when it has one; OCR of the page image when it has
none (``--ocr auto``), for every page with an image (``always``) or never.
OCR'd pages whose mean word confidence is below ``min_confidence`` are left
out and reported, never kept silently. Running headers, footers and page
numbers are removed across the document's pages, then lines become
paragraphs with broken words repaired (kazft.text.layout).
"""

from __future__ import annotations

import tempfile
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from kazft.errors import DataError
from kazft.text.articles import is_heading
from kazft.text.document import Document, ExtractOptions, PageReport
from kazft.text.docx_reader import Block
from kazft.text.layout import (
    PageLines,
    continues,
    join_hyphenated,
    paragraphs,
    strip_running_lines,
    vocabulary,
)
from kazft.text.ocr import OcrPage, ocr_image, require_tesseract
from kazft.text.pdf_reader import PdfPage, open_pdf, pdf_title, read_pages

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
Advance = Callable[[int], None]


def image_frames(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return int(getattr(img, "n_frames", 1))
    except OSError as err:
        raise DataError(f"{path}: not a readable image ({err})") from None


def _ocr_report(doc: Document, number: int, page: OcrPage, opts: ExtractOptions) -> PageReport:
    conf = page.confidence
    report = PageReport(doc.source, number, ocr=True, confidence=conf)
    if conf < opts.min_confidence:
        report.kept = False
        report.note = (
            "no text found"
            if not page.confidences
            else f"mean OCR confidence {conf:g} < {opts.min_confidence:g}"
        )
    return report


def _ocr_lines(page: OcrPage) -> PageLines:
    return PageLines(page.number, [t for t, _ in page.lines], [p for _, p in page.lines])


def read_image(path: Path, opts: ExtractOptions, advance: Advance) -> Document:
    if opts.ocr == "never":
        raise DataError(f"{path}: an image can only be read with OCR; drop --ocr never")
    doc = Document(str(path))
    pages: list[PageLines] = []
    for page in ocr_image(path, opts.ocr_lang):
        report = _ocr_report(doc, page.number, page, opts)
        doc.pages.append(report)
        pages.append(_ocr_lines(page) if report.kept else PageLines(page.number, []))
        advance(1)
    return _assemble(doc, pages)


def _ocr_pil(images: list[Any], width_in: float, lang: str) -> OcrPage:
    """OCR a PDF page's images (in order) as one page."""
    merged = OcrPage(1)
    with tempfile.TemporaryDirectory(prefix="kazft-ocr-") as tmp:
        for k, image in enumerate(images):
            dpi = max(70, min(1200, round(image.width / width_in)))
            file = Path(tmp) / f"page-{k}.png"
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
                image = image.convert("RGB")  # CMYK and other scanner modes: PNG cannot hold them
            image.save(file, dpi=(dpi, dpi))
            for page in ocr_image(file, lang):
                offset = max((p for _, p in merged.lines), default=0)
                merged.lines += [(t, p + offset) for t, p in page.lines]
                merged.confidences += page.confidences
    return merged


def read_pdf(path: Path, opts: ExtractOptions, advance: Advance) -> Document:
    """Pages in order; scanned pages are OCR'd ``opts.jobs`` at a time.

    At most twice ``jobs`` pages wait in memory, so a 500-page scan never holds
    all its page images at once.
    """
    doc = Document(str(path))
    pages: list[PageLines] = []
    want = "never" if opts.ocr == "never" else opts.ocr
    pending: deque[tuple[PdfPage, Future[OcrPage] | None]] = deque()

    def finish(pg: PdfPage, job: Future[OcrPage] | None) -> None:
        report = PageReport(doc.source, pg.number)
        if job is not None:
            ocr_page = job.result()
            report = _ocr_report(doc, pg.number, ocr_page, opts)
            lines = _ocr_lines(ocr_page) if report.kept else PageLines(pg.number, [])
            lines.number = pg.number
        else:
            lines = PageLines(pg.number, pg.text.splitlines())
            if not pg.text.strip():
                report.note = (
                    "no text layer; OCR is off (--ocr never)"
                    if opts.ocr == "never"
                    else "no text layer and no image to OCR"
                )
        doc.pages.append(report)
        pages.append(lines)
        advance(1)

    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        try:
            for pg in read_pages(path, want):
                job = None
                if pg.images and (opts.ocr == "always" or not pg.has_text):
                    require_tesseract(opts.ocr_lang)
                    job = pool.submit(_ocr_pil, pg.images, pg.width_in, opts.ocr_lang)
                    pg.images = []
                pending.append((pg, job))
                while pending and (pending[0][1] is None or len(pending) > 2 * opts.jobs):
                    finish(*pending.popleft())
            while pending:
                finish(*pending.popleft())
        finally:
            for _, job in pending:
                if job is not None:
                    job.cancel()
    title = pdf_title(open_pdf(path))
    doc = _assemble(doc, pages)
    if title:
        doc.titles.append(title)
    return doc


def _assemble(doc: Document, pages: list[PageLines]) -> Document:
    doc.running_lines = strip_running_lines(pages)
    vocab = vocabulary(pages)
    last_page: int | None = None
    for page in pages:
        conf = next((r.confidence for r in doc.pages if r.page == page.number), None)
        for k, text in enumerate(paragraphs(page, vocab), 1):
            prev = doc.blocks[-1] if doc.blocks else None
            if (
                k == 1
                and prev is not None
                and prev.page == last_page
                and continues(prev.text, text)
            ):
                # A paragraph broken by the page end stays one block, on its first page.
                doc.blocks[-1] = replace(prev, text=join_hyphenated(prev.text, text, vocab))
                continue
            doc.blocks.append(Block(text, k, page=page.number, confidence=conf))
        last_page = page.number
    doc.titles = _title_candidates(doc.blocks, doc.running_lines)
    return doc


def _title_candidates(blocks: list[Block], running: Counter[str]) -> list[str]:
    """The first short block before any structural heading, then the running header."""
    out: list[str] = []
    if blocks and not is_heading(blocks[0].text) and len(blocks[0].text) <= 200:
        out.append(blocks[0].text)
    out += [line for line, _ in running.most_common() if sum(c.isalpha() for c in line) >= 3]
    return out
