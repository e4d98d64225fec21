"""Kazakh Cyrillic to the Latin alphabets, word by word.

A letter table plus two rules: case for letters that become two Latin letters
(Ш -> Sh in a word, SH in an all-caps word), and и before я/ю after a consonant
is dropped (ия -> ıa), the common practice the reverse direction relies on.
Its own module so that Latin -> Cyrillic (which derives its exception keys from
it) and language ID can use it without importing the transliterator.
"""

from __future__ import annotations

from functools import cache

from kazft.text.alphabets import CYR_TO_LATIN, CYRILLIC_VOWELS, latin_upper
from kazft.text.tokens import WORD_RE, map_unprotected


@cache
def _lower_table(alphabet: str) -> dict[int, str]:
    return {ord(k): v for k, v in CYR_TO_LATIN[alphabet].items()}


def cyrillic_word_to_latin(word: str, alphabet: str) -> str:
    """One Cyrillic word to Latin ``alphabet``; non-Kazakh letters pass through."""
    if word.islower() and "ия" not in word and "ию" not in word:
        return word.translate(_lower_table(alphabet))  # the common case, at C speed
    table = CYR_TO_LATIN[alphabet]
    letters = [ch for ch in word if ch.isalpha()]
    all_caps = len(letters) > 1 and all(ch.isupper() for ch in letters)
    out: list[str] = []
    n = len(word)
    for i, ch in enumerate(word):
        low = ch.lower()
        lat = table.get(low)
        if lat is None:
            out.append(ch)
            continue
        if low == "и" and i + 1 < n and word[i + 1].lower() in "яю" and i > 0:
            before = word[i - 1].lower()
            if before in table and before not in CYRILLIC_VOWELS and before not in "ьъ":
                continue  # ия/ию after a consonant: "ıa"/"ıý", read back as ия/ию
        if ch != low and lat:
            if all_caps:
                lat = "".join(latin_upper(c, alphabet) for c in lat)
            else:
                lat = latin_upper(lat[0], alphabet) + lat[1:]
        out.append(lat)
    return "".join(out)


def cyrillic_to_latin(text: str, alphabet: str) -> str:
    """Cyrillic Kazakh words of ``text`` to Latin; protected spans pass through."""
    if alphabet not in CYR_TO_LATIN:
        raise ValueError(f"unknown Latin alphabet {alphabet!r}")
    return map_unprotected(
        text,
        lambda piece: WORD_RE.sub(lambda m: cyrillic_word_to_latin(m.group(), alphabet), piece),
    )
