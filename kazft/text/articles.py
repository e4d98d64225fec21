"""Statute structure: article, chapter, section and paragraph headings in Kazakh and Russian.

A heading is recognised only at the start of a block and only in its heading
form: "52-бап." or "Статья 52." (a dot or the end of the block after the
number), so cross-references inside sentences ("осы Кодекстің 52-бабы",
"статьей 52 настоящего Кодекса") never split an article. Inserted articles
("52-1-бап.", "Статья 52-1.") keep their full number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

_NUM = r"(?P<num>\d+(?:[-‑–]\d+)*)"
_ROMAN_OR_NUM = r"(?P<num>\d+(?:[-‑–]\d+)*|[IVXLCDM]+)"
_REST = r"(?:\.|(?=\s*$))\s*(?P<title>.*)"
_DASH = r"\s?[-‑–]\s?"

# (level, pattern); a lower level number is a larger unit.
HEADINGS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (level, re.compile(pattern, re.IGNORECASE | re.DOTALL))
    for level, pattern in (
        ("section", rf"^{_ROMAN_OR_NUM}{_DASH}бөлім{_REST}"),
        ("section", rf"^Раздел\s+{_ROMAN_OR_NUM}{_REST}"),
        ("chapter", rf"^{_ROMAN_OR_NUM}{_DASH}тарау{_REST}"),
        ("chapter", rf"^Глава\s+{_ROMAN_OR_NUM}{_REST}"),
        ("paragraph", rf"^{_NUM}{_DASH}параграф{_REST}"),
        ("paragraph", rf"^(?:Параграф|§)\s*{_NUM}{_REST}"),
        ("article", rf"^{_NUM}{_DASH}бап{_REST}"),
        ("article", rf"^Статья\s+{_NUM}{_REST}"),
    )
)
LEVELS = ("section", "chapter", "paragraph")


@dataclass(frozen=True)
class Heading:
    level: str  # section, chapter, paragraph or article
    number: str
    title: str
    text: str  # the whole heading as written


def parse_heading(text: str) -> Heading | None:
    """The structural heading that ``text`` starts with, if it is one."""
    stripped = " ".join(text.split())
    for level, pattern in HEADINGS:
        m = pattern.match(stripped)
        if m:
            number = re.sub("[‑–]", "-", m.group("num"))
            return Heading(level, number, m.group("title").strip(), stripped)
    return None


def is_heading(text: str) -> bool:
    return parse_heading(text) is not None


@dataclass
class Unit:
    """One article (or the text before the first article of a part): its blocks and place."""

    article: Heading | None
    parts: dict[str, str]  # level -> heading text of the enclosing section/chapter/paragraph
    blocks: list[str] = field(default_factory=list)
    first: object = None  # the first block's position, set by the caller

    @property
    def text(self) -> str:
        head = [self.article.text] if self.article else []
        return "\n".join(head + self.blocks)


def split_articles(blocks: Iterable[tuple[str, object]]) -> Iterator[Unit]:
    """Group ``(text, position)`` blocks into articles.

    Section, chapter and paragraph headings become metadata of the articles
    under them; text that stands before the first article (a preamble) or
    between a chapter heading and its first article is its own unit with
    ``article=None``, so no text is lost.
    """
    parts: dict[str, str] = {}
    unit: Unit | None = None
    for text, where in blocks:
        heading = parse_heading(text)
        if heading is not None and heading.level != "article":
            if unit is not None and (unit.blocks or unit.article):
                yield unit
            unit = None
            # A new chapter closes the paragraph (sub-chapter) of the previous one.
            for level in LEVELS[LEVELS.index(heading.level) :]:
                parts.pop(level, None)
            parts[heading.level] = heading.text
            continue
        if heading is not None:
            if unit is not None and (unit.blocks or unit.article):
                yield unit
            unit = Unit(heading, dict(parts), first=where)
            continue
        if unit is None:
            unit = Unit(None, dict(parts), first=where)
        unit.blocks.append(text)
    if unit is not None and (unit.blocks or unit.article):
        yield unit
