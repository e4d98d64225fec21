"""Documents (.docx, .txt, .md, .pdf, scans, .html) to records with source and position.

Positions: ``block`` is the paragraph number in a .docx (body and table-cell
paragraphs counted together, in document order) and the line number in .txt
and .md files; table cells also carry ``table``, ``row`` and ``cell``. PDFs
and scans carry ``page`` and count ``block`` within the page; OCR'd pages add
``ocr_confidence``. HTML pages count blocks of the main text.

Records are split three ways: sentences, paragraphs (blocks) or articles
(kazft.text.articles), each with the ``text`` field every verb reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.errors import DataError
from kazft.text.articles import is_heading, split_articles
from kazft.text.document import Document, ExtractOptions
from kazft.text.docx_reader import Block, read_docx
from kazft.text.html_reader import HTML_SUFFIXES, read_html
from kazft.text.paged import IMAGE_SUFFIXES, image_frames, read_image, read_pdf
from kazft.text.pdf_reader import page_count
from kazft.text.records import display_name, iter_lines
from kazft.text.sentences import split_sentences

SUFFIXES = (".docx", ".txt", ".md", ".markdown", ".pdf", *IMAGE_SUFFIXES, *HTML_SUFFIXES)
SPLITS = ("sentences", "paragraphs", "articles")
_MD_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_MD_PREFIX_RE = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)")
_MD_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_MD_LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS_RE = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")


@dataclass(frozen=True)
class Sentence:
    text: str
    source: str
    block: int
    sentence: int
    table: int | None = None
    row: int | None = None
    cell: int | None = None
    page: int | None = None
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"text": self.text, "source": self.source}
        if self.page is not None:
            obj["page"] = self.page
        obj["block"] = self.block
        if self.table is not None:
            obj.update(table=self.table, row=self.row, cell=self.cell)
        obj["sentence"] = self.sentence
        if self.confidence is not None:
            obj["ocr_confidence"] = self.confidence
        return obj


def _markdown_inline(text: str) -> str:
    text = _MD_LINK_RE.sub(r"\1", text)
    return _MD_EMPHASIS_RE.sub(r"\2", text)


def markdown_blocks(path: str | Path, encoding: str = "utf-8") -> Iterator[Block]:
    """Prose lines of a Markdown file: code blocks skipped, markup stripped."""
    in_code = False
    for lineno, line in iter_lines(path, encoding):
        if _MD_FENCE_RE.match(line):
            in_code = not in_code
            continue
        if in_code or _MD_TABLE_SEP_RE.match(line) or not line.strip():
            continue
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            for cell in stripped.strip("|").split("|"):
                if cell.strip():
                    yield Block(_markdown_inline(cell.strip()), lineno)
            continue
        yield Block(_markdown_inline(_MD_PREFIX_RE.sub("", line)), lineno)


def text_blocks(path: str | Path, encoding: str = "utf-8") -> Iterator[Block]:
    for lineno, line in iter_lines(path, encoding):
        if line.strip():
            yield Block(line, lineno)


def iter_blocks(path: str | Path, encoding: str = "utf-8") -> Iterator[Block]:
    """Blocks of a .docx, .md or text file (other suffixes are read as text)."""
    suffix = Path(str(path)).suffix.lower()
    if str(path) != "-" and not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    if suffix == ".docx":
        found = False
        for block in read_docx(path):
            found = found or bool(block.text.strip())
            yield block
        if not found:
            raise DataError(f"{path}: the document has no text")
        return
    if suffix == ".doc":
        raise DataError(f"{path}: old binary .doc files are not supported; save as .docx first")
    if suffix in (".md", ".markdown"):
        yield from markdown_blocks(path, encoding)
    else:
        yield from text_blocks(path, encoding)


def extract_sentences(
    path: str | Path,
    encoding: str = "utf-8",
    split: bool = True,
    clean: Callable[[str], str] | None = None,
) -> Iterator[Sentence]:
    """Sentences (or whole blocks with ``split=False``) of one document."""
    doc = read_document(path, ExtractOptions(encoding=encoding))
    yield from document_sentences(doc.cleaned(clean), split)


def document_sentences(doc: Document, split: bool = True) -> Iterator[Sentence]:
    for block in doc.blocks:
        pieces = split_sentences(block.text) if split else [" ".join(block.text.split())]
        for k, piece in enumerate((p for p in pieces if p), 1):
            yield Sentence(
                piece,
                doc.source,
                block.index,
                k,
                block.table,
                block.row,
                block.cell,
                block.page,
                block.confidence,
            )


def document_articles(doc: Document, act: str | None = None) -> Iterator[dict[str, Any]]:
    """One record per article (and per stretch of text outside articles)."""
    act_name = act or doc.act_name()
    for unit in split_articles((b.text, b) for b in doc.blocks if b.text.strip()):
        first = unit.first
        assert isinstance(first, Block)
        obj: dict[str, Any] = {"text": unit.text, "source": doc.source, "act": act_name}
        obj.update(unit.parts)
        obj["article"] = unit.article.number if unit.article else None
        obj["title"] = unit.article.title if unit.article else None
        if first.page is not None:
            obj["page"] = first.page
        obj["block"] = first.index
        if first.confidence is not None:
            obj["ocr_confidence"] = first.confidence
        yield obj


def document_records(doc: Document, split: str, act: str | None = None) -> Iterator[dict]:
    if split == "articles":
        yield from document_articles(doc, act)
    else:
        for s in document_sentences(doc, split == "sentences"):
            yield s.to_json()


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files named, and the supported files inside folders named (sorted, recursive)."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if item == "-" or path.is_file():
            out.append(item)
        elif path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
            )
            if not found:
                raise DataError(f"{path}: no {', '.join(SUFFIXES)} files in this folder")
            out += found
        else:
            raise DataError(f"{item}: no such file")
    return out


def count_pages(path: str | Path) -> int:
    """Pages (PDF pages, image frames) in a file, for the progress bar; 1 for others."""
    suffix = Path(str(path)).suffix.lower()
    if suffix == ".pdf" and Path(path).is_file():
        return page_count(Path(path))
    if suffix in IMAGE_SUFFIXES and Path(path).is_file():
        return image_frames(Path(path))
    return 1


def read_document(
    path: str | Path,
    opts: ExtractOptions | None = None,
    advance: Callable[[int], None] | None = None,
) -> Document:
    """Any supported file as a Document; ``advance(n)`` is called per page read."""
    opts = opts or ExtractOptions()
    step = advance or (lambda n: None)
    suffix = Path(str(path)).suffix.lower()
    if str(path) != "-" and not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    if suffix == ".pdf":
        return read_pdf(Path(path), opts, step)
    if suffix in IMAGE_SUFFIXES:
        return read_image(Path(path), opts, step)
    if suffix in HTML_SUFFIXES:
        title, pairs = read_html(Path(path), opts.encoding)
        blocks = [Block(text, k) for k, (text, _) in enumerate(pairs, 1)]
        headings = [t for t, is_head in pairs if is_head and not is_heading(t)]
        step(1)
        return Document(str(path), blocks, titles=headings[:1] + ([title] if title else []))
    blocks = list(iter_blocks(path, opts.encoding))
    step(1)
    first = next((b.text for b in blocks if b.text.strip()), "")
    titles = [first] if first and len(first) <= 200 and not is_heading(first) else []
    return Document(display_name(path), blocks, titles=titles)
