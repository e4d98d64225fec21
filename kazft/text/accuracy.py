"""Measure transliteration by round trip: Cyrillic -> Latin -> Cyrillic.

Latin -> Cyrillic loses information (и/й, х/һ, ь, э ...), so the converter is
measured on real text, never assumed exact. Errors are the edit operations of
difflib's alignment of each original line with its round trip (insertions,
deletions and replacements, per character); character accuracy is one minus
errors over original characters. Word accuracy counts words that came back
unchanged.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from kazft.text.alphabets import CYRILLIC
from kazft.text.translit import Transliterator


def edit_ops(a: str | list[str], b: str | list[str]) -> int:
    """Edit operations in difflib's alignment of ``a`` and ``b``."""
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")


def roundtrip(lines: Iterable[str], alphabet: str, back_source: str = "auto") -> dict[str, Any]:
    """Round-trip ``lines`` through ``alphabet``; returns accuracy figures and top errors."""
    forward = Transliterator(alphabet, source=CYRILLIC)
    backward = Transliterator(CYRILLIC, source=back_source)
    chars = char_errors = words = word_errors = 0
    wrong: Counter[tuple[str, str]] = Counter()
    lines = list(lines)
    latin = [forward(line) for line in lines]
    backward.learn_file(latin)  # as `kazft data translit` does for a file
    for line, lat in zip(lines, latin, strict=True):
        back = backward(lat)
        chars += len(line)
        if back == line:
            words += len(line.split())
            continue
        char_errors += edit_ops(line, back)
        orig_words, back_words = line.split(), back.split()
        words += len(orig_words)
        if len(orig_words) == len(back_words):
            pairs = [(a, b) for a, b in zip(orig_words, back_words, strict=True) if a != b]
            word_errors += len(pairs)
            wrong.update(pairs)
        else:
            word_errors += edit_ops(orig_words, back_words)
    return {
        "alphabet": alphabet,
        "characters": chars,
        "char_errors": char_errors,
        "char_accuracy": round(1 - char_errors / chars, 5) if chars else 1.0,
        "words": words,
        "word_errors": word_errors,
        "word_accuracy": round(1 - word_errors / words, 5) if words else 1.0,
        "top_errors": [f"{a} -> {b}" for (a, b), _ in wrong.most_common(10)],
    }


# The letters of the official Cyrillic -> Latin tables; ё ц щ ъ ь э ю я have no
# official rule, so words holding them are scored apart.
OFFICIAL_LETTERS = frozenset("аәбвгғдежзийкқлмнңоөпрстуұүфхһчшыі")
_PIECE_RE = re.compile(r"[^\s\-‐‑–—]+")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
_CYR_RE = re.compile(r"[\u0400-\u04ff]")


def _pieces(line: str) -> list[str]:
    """Words without their surrounding punctuation, split at hyphens (BERT-ті)."""
    out = []
    for m in _PIECE_RE.finditer(line):
        word = m.group().strip("".join(_PUNCT))
        if word:
            out.append(word)
    return out


_PUNCT = {chr(c) for c in range(0x2000, 0x2070)} | set(".,;:!?()[]{}«»\"'“”„/")


def word_classes(lines: Iterable[str], alphabet: str) -> dict[str, Any]:
    """Round trip per word class: characters right on words of official letters,
    on all Cyrillic words, and Latin tokens (API, Smith, et al.) that came back as
    they were. Words are paired in order; a line whose word count changed counts
    all its words of the unpaired stretch as wrong."""
    forward = Transliterator(alphabet, source=CYRILLIC)
    backward = Transliterator(CYRILLIC, source="auto")
    totals: Counter[str] = Counter()
    wrong_latin: Counter[str] = Counter()
    wrong_cyr: Counter[tuple[str, str]] = Counter()
    lines = list(lines)
    latin = [forward(line) for line in lines]
    backward.learn_file(latin)  # as `kazft data translit` does for a file
    for line, lat in zip(lines, latin, strict=True):
        orig, back = _pieces(line), _pieces(backward(lat))
        sm = difflib.SequenceMatcher(None, orig, back, autojunk=False)
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            pairs: list[tuple[str, str | None]]
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
                pairs = list(zip(orig[i1:i2], back[j1:j2], strict=True))
            else:
                pairs = [(w, None) for w in orig[i1:i2]]
            for a, b in pairs:
                if _CYR_RE.search(a):
                    errors = len(a) if b is None else edit_ops(a, b)
                    keys = ["cyrillic"]
                    if set(a.lower()) <= OFFICIAL_LETTERS:
                        keys.append("official")
                    for k in keys:
                        totals[f"{k}_chars"] += len(a)
                        totals[f"{k}_errors"] += min(errors, len(a))
                    if errors:
                        wrong_cyr[(a, b or "")] += 1
                elif _LATIN_RE.search(a):
                    totals["latin_tokens"] += 1
                    if a == b:
                        totals["latin_kept"] += 1
                    else:
                        wrong_latin[f"{a} -> {b}"] += 1

    def share(ok: int, n: int) -> float:
        return round(ok / n, 5) if n else 1.0

    return {
        "alphabet": alphabet,
        "official_chars": totals["official_chars"],
        "official_char_accuracy": share(
            totals["official_chars"] - totals["official_errors"], totals["official_chars"]
        ),
        "cyrillic_chars": totals["cyrillic_chars"],
        "cyrillic_char_accuracy": share(
            totals["cyrillic_chars"] - totals["cyrillic_errors"], totals["cyrillic_chars"]
        ),
        "latin_tokens": totals["latin_tokens"],
        "latin_kept": share(totals["latin_kept"], totals["latin_tokens"]),
        "cyrillic_errors": [f"{a} -> {b}" for (a, b), _ in wrong_cyr.most_common(20)],
        "latin_errors": [w for w, _ in wrong_latin.most_common(20)],
    }
