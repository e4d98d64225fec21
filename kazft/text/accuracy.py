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
    for line in lines:
        back = backward(forward(line))
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
