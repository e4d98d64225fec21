"""Words, scripts of characters, and spans the text tools must not touch.

URLs, e-mail addresses, code, numbers and Roman numerals are Latin or ASCII
on purpose; transliterating or "repairing" them would corrupt them, so every
tool that rewrites letters skips these spans.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

CYRILLIC = "cyrillic"
LATIN = "latin"
ARABIC = "arabic"
OTHER = "other"

# A word is a run of letters; digits, underscores and hyphens end it, so that
# "52-бабы" or "iPhone-ның" are two words each.
WORD_RE = re.compile(r"[^\W\d_]+")
# Latin 2017 writes letters as letter + apostrophe (a' = ә), so words may hold
# apostrophes.
WORD_2017_RE = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]*)*")

_PROTECTED_RE = re.compile(
    r"""
      ```.*?```                                   # fenced code
    | `[^`\n]+`                                   # inline code
    | (?:https?|ftp)://[^\s<>"«»]+                # URL with scheme
    | www\.[^\s<>"«»]+                            # bare www URL
    | [\w.+-]+@[\w-]+(?:\.[\w-]+)+                # e-mail address
    | \b[A-Za-z](?:\+\+|\#)(?!\w)                   # C++, C#, F#
    | [#@]\w+                                     # hashtag, mention (any script: an identifier)
    | \{\s*"[^"\n]*"\s*:[^{}\n]*\}                  # inline JSON object
    | \b[\w-]+(?:\.[\w-]+)*\.(?:kz|com|org|net|io|ai|ru|uk|gov|edu|txt|py|jsonl?|csv|tsv|ya?ml|md|pdf|docx?|xlsx?|safetensors|gguf|bin|zip|html?|js|sh|ipynb|toml|log)\b  # file, domain
    | \b[A-Za-z0-9]*(?:_|[a-z][A-Z]|[0-9][A-Za-z]|[A-Za-z][0-9])[A-Za-z0-9_]*\b  # code-like
    | \b(?=[MDCLXVI]{2,}\b)M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})\b
    | \b[VX]\b(?!\.)                              # lone Roman numeral (V ғасыр)
    | \d+(?:[.,:]\d+)*                            # number
    """,
    re.VERBOSE | re.DOTALL,
)
# Punctuation that ends a sentence, not the URL before it.
_URL_TRAILING = ".,;:!?)»\"'"


def char_script(ch: str) -> str:
    """The script of one letter: cyrillic, latin, arabic or other."""
    o = ord(ch)
    if 0x0400 <= o <= 0x052F or 0x1C80 <= o <= 0x1C8F or 0xA640 <= o <= 0xA69F:
        return CYRILLIC
    if ch.isascii() or 0x00C0 <= o <= 0x024F or 0x0250 <= o <= 0x02AF or 0x1E00 <= o <= 0x1EFF:
        return LATIN if ch.isalpha() else OTHER
    if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF:
        return ARABIC
    if 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
        return ARABIC
    return OTHER


def protected_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of URLs, e-mails, code, numbers and Roman numerals in ``text``."""
    spans = []
    for m in _PROTECTED_RE.finditer(text):
        start, end = m.span()
        if m.group().startswith(("http", "ftp", "www")):
            while end > start and text[end - 1] in _URL_TRAILING:
                end -= 1
        spans.append((start, end))
    return spans


def split_protected(text: str) -> Iterator[tuple[str, bool]]:
    """Yield (piece, protected) covering ``text`` in order."""
    pos = 0
    for start, end in protected_spans(text):
        if start > pos:
            yield text[pos:start], False
        yield text[start:end], True
        pos = end
    if pos < len(text):
        yield text[pos:], False


def map_unprotected(text: str, func: Callable[[str], str]) -> str:
    """Apply ``func`` to the parts of ``text`` outside protected spans."""
    return "".join(piece if prot else func(piece) for piece, prot in split_protected(text))


_CLAUSE_END_RE = re.compile(r"[.!?;\n«»\"“”„()\[\]]")


def clauses(text: str) -> list[str]:
    """Split ``text`` at sentence punctuation, quotes and brackets outside protected spans.

    Joining the result gives ``text`` back. Used to decide per clause whether a
    stretch of text is in another language (a Russian title, an English quote).
    """
    spans = protected_spans(text)
    out: list[str] = []
    start = 0
    k = 0
    for m in _CLAUSE_END_RE.finditer(text):
        pos = m.start()
        while k < len(spans) and spans[k][1] <= pos:
            k += 1
        if k < len(spans) and spans[k][0] <= pos < spans[k][1]:
            continue
        out.append(text[start : pos + 1])
        start = pos + 1
    if start < len(text):
        out.append(text[start:])
    return out
