"""What ``extract`` reads from one file: its blocks, page reports and title candidates."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kazft.text.docx_reader import Block
from kazft.text.ocr import DEFAULT_LANG

OCR_MODES = ("auto", "always", "never")
DEFAULT_MIN_CONFIDENCE = 60.0


@dataclass(frozen=True)
class ExtractOptions:
    encoding: str = "utf-8"
    ocr: str = "auto"  # auto: pages without a text layer; always; never
    ocr_lang: str = DEFAULT_LANG
    min_confidence: float = DEFAULT_MIN_CONFIDENCE  # OCR'd pages below are left out
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)  # pages OCR'd at once


@dataclass
class PageReport:
    """How one page was read; ``kept`` is False for pages left out (and why, in ``note``)."""

    source: str
    page: int
    ocr: bool = False
    confidence: float | None = None
    kept: bool = True
    note: str = ""


@dataclass
class Document:
    source: str
    blocks: list[Block] = field(default_factory=list)
    pages: list[PageReport] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # act-name candidates, best first
    running_lines: Counter[str] = field(default_factory=Counter)  # headers/footers removed

    def act_name(self) -> str:
        for title in self.titles:
            if title and title.strip():
                return " ".join(title.split())
        return Path(self.source).stem

    def cleaned(self, clean: Callable[[str], str] | None) -> Document:
        """A copy with ``clean`` applied to every block's text."""
        if clean is None:
            return self
        from dataclasses import replace

        blocks = [replace(b, text=clean(b.text)) for b in self.blocks]
        titles = [clean(t) for t in self.titles]
        return Document(self.source, blocks, self.pages, titles, self.running_lines)
