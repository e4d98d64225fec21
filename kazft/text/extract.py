"""Documents (.docx, .txt, .md) to sentences with their source and position.

Positions: ``block`` is the paragraph number in a .docx (body and table-cell
paragraphs counted together, in document order) and the line number in .txt
and .md files; table cells also carry ``table``, ``row`` and ``cell``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.errors import DataError
from kazft.text.docx_reader import Block, read_docx
from kazft.text.records import display_name, iter_lines
from kazft.text.sentences import split_sentences

SUFFIXES = (".docx", ".txt", ".md", ".markdown")
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

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"text": self.text, "source": self.source, "block": self.block}
        if self.table is not None:
            obj.update(table=self.table, row=self.row, cell=self.cell)
        obj["sentence"] = self.sentence
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
    source = display_name(path)
    for block in iter_blocks(path, encoding):
        text = clean(block.text) if clean else block.text
        pieces = split_sentences(text) if split else [" ".join(text.split())]
        for k, piece in enumerate((p for p in pieces if p), 1):
            yield Sentence(piece, source, block.index, k, block.table, block.row, block.cell)
