"""Page lines (a PDF's text layer or OCR) to paragraphs, as a reader would see them.

Three repairs, in this order:

1. Running headers, footers and page numbers: a line among the first or last
   ``EDGE_LINES`` of a page whose digits-masked form repeats at the edges of
   most pages (more than half, and at least two), or of most odd or most even
   pages (alternating headers), is removed. Masking digits
   makes "Бет 3" and "Бет 4", or the bare numbers "3" and "4", one line.
2. Paragraphs: lines are joined until a blank line, a new OCR paragraph, a
   structural heading (article, chapter, section), a list item, a line that
   is only a number, or a line that ends a sentence while falling short of
   the page's usual line length.
3. Hyphenation at line ends: "міндет-" + "ті" becomes "міндетті" when the
   next line starts with a small letter, unless the hyphenated form occurs
   elsewhere in the document and the joined one does not (then it was a real
   compound such as "әлеуметтік-экономикалық"); after a digit ("52-" + "бап")
   the hyphen stays and nothing is inserted; a soft hyphen always joins.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from kazft.text.articles import is_heading

EDGE_LINES = 2
_DIGITS_RE = re.compile(r"\d+")
_SPACE_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_LIST_ITEM_RE = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*[.)]|[а-яәғқңөұүһіa-z][)]|[-–—•▪●])\s")
_SENTENCE_END = tuple('.!?:;»"')
_HYPHENS = "-\u2010\u2011\u00ad"


@dataclass
class PageLines:
    """The lines of one page; ``paragraphs`` holds OCR paragraph ids (None: unknown)."""

    number: int
    lines: list[str]
    paragraphs: list[int] | None = None
    removed: list[str] = field(default_factory=list)


def _key(line: str) -> str:
    return _SPACE_RE.sub(" ", _DIGITS_RE.sub("#", line)).strip().casefold()


def _edges(lines: list[str]) -> set[int]:
    """Indices of the first and last EDGE_LINES non-blank lines."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return set(filled[:EDGE_LINES] + filled[-EDGE_LINES:])


def strip_running_lines(pages: list[PageLines]) -> Counter[str]:
    """Remove running headers/footers and page numbers in place; return what was removed."""
    removed: Counter[str] = Counter()
    if len(pages) < 2:
        return removed
    # Books and some codes alternate headers (the act on even pages, the chapter
    # on odd ones): a line also counts when it is on most pages of one parity.
    running: set[str] = set()
    for group in (pages, pages[0::2], pages[1::2]):
        seen: Counter[str] = Counter()
        for page in group:
            seen.update({_key(page.lines[i]) for i in _edges(page.lines)})
        needed = max(2, math.floor(len(group) / 2) + 1)
        running |= {k for k, n in seen.items() if n >= needed and k}
    for page in pages:
        drop = {i for i in _edges(page.lines) if _key(page.lines[i]) in running}
        for i in sorted(drop):
            page.removed.append(page.lines[i].strip())
            removed[page.lines[i].strip()] += 1
        page.lines = [line for i, line in enumerate(page.lines) if i not in drop]
        if page.paragraphs is not None:
            page.paragraphs = [p for i, p in enumerate(page.paragraphs) if i not in drop]
    return removed


def vocabulary(pages: list[PageLines]) -> set[str]:
    """Lower-cased words (hyphenated compounds whole) seen inside lines, for hyphen repair."""
    words: set[str] = set()
    for page in pages:
        for line in page.lines:
            # The last word of a line may be a hyphenated fragment: leave it out.
            words.update(w.casefold() for w in _WORD_RE.findall(line.rstrip(_HYPHENS))[:-1])
    return words


def join_hyphenated(left: str, right: str, vocab: set[str]) -> str:
    """Join two lines of one paragraph, repairing a word broken at the line end."""
    left, right = left.rstrip(), right.lstrip()
    if not left:
        return right
    if not right:
        return left
    if left.endswith("\u00ad"):
        return left[:-1] + right
    if left[-1] in _HYPHENS and len(left) > 1:
        before = left[-2]
        if before.isdigit():
            return left + right
        if before.isalpha() and right[0].isalpha() and right[0].islower():
            head = _WORD_RE.findall(left[:-1])
            tail = _WORD_RE.match(right)
            if head and tail:
                hyphenated = f"{head[-1]}-{tail.group()}".casefold()
                joined = f"{head[-1]}{tail.group()}".casefold()
                if hyphenated in vocab and joined not in vocab:
                    return left + right
            return left[:-1] + right
    return f"{left} {right}"


def continues(previous: str, following: str) -> bool:
    """Whether a page's first paragraph carries on the previous page's last one."""
    previous, following = previous.rstrip(), following.lstrip()
    if not previous or not following or is_heading(following):
        return False
    if previous[-1] in _HYPHENS:
        return True
    return not previous.endswith(_SENTENCE_END) and following[0].islower()


def _bare_number(line: str) -> bool:
    """A line that is only a number ("3", "- 3 -"): a page number a single page keeps."""
    return line.strip(" -–—.").isdigit()


def _ends_paragraph(line: str, usual: int) -> bool:
    text = line.rstrip()
    return text.endswith(_SENTENCE_END) and len(text) < 0.85 * usual


def paragraphs(page: PageLines, vocab: set[str]) -> list[str]:
    """The page's lines joined into paragraphs (headings stand alone)."""
    lengths = sorted(len(line.strip()) for line in page.lines if line.strip())
    usual = lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0
    out: list[str] = []
    current: str | None = None
    previous_para: int | None = None
    previous_heading = False
    last_line = ""
    for i, raw in enumerate(page.lines):
        line = _SPACE_RE.sub(" ", raw).strip()
        para = page.paragraphs[i] if page.paragraphs is not None else None
        if not line:
            if current is not None:
                out.append(current)
            current, previous_heading, last_line = None, False, ""
            continue
        heading = is_heading(line)
        new = (
            current is None
            or heading
            or (para is not None and para != previous_para)
            or (previous_heading and not line[0].islower())
            or (page.paragraphs is None and _ends_paragraph(last_line, usual))
            or bool(_LIST_ITEM_RE.match(line))
            or _bare_number(line)
            or _bare_number(last_line)
        )
        if new:
            if current is not None:
                out.append(current)
            current = line
        else:
            assert current is not None
            current = join_hyphenated(current, line, vocab)
        previous_para, last_line = para, line
        previous_heading = heading if new else previous_heading
    if current is not None:
        out.append(current)
    return out
