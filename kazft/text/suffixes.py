"""Kazakh noun endings (plural, possessive, case, derivation) and their Latin spellings.

Used to tell a Kazakh word form from a foreign word: a stem the lexicon knows
plus these endings is Kazakh (modelder, serverge), and a Latin word followed by
a hyphen and one of them (BERT-ті, Python-да) was Latin in the original, since
Kazakh attaches endings to foreign-script words with a hyphen.
"""

from __future__ import annotations

from functools import cache

from kazft.text.alphabets import CYR_TO_LATIN, LATIN2018
from kazft.text.cyrillic_to_latin import cyrillic_word_to_latin

_PLURAL = ("", "лар", "лер", "дар", "дер", "тар", "тер")
_POSSESSIVE = ("", "ы", "і", "сы", "сі", "ым", "ім", "ың", "ің")
_CASES = (
    "", "ның", "нің", "дың", "дің", "тың", "тің", "ға", "ге", "қа", "ке", "ны", "ні",
    "ды", "ді", "ты", "ті", "да", "де", "та", "те", "дан", "ден", "тан", "тен", "нан",
    "нен", "мен", "бен", "пен", "дағы", "дегі", "тағы", "тегі",
)  # fmt: skip
# Case forms that only follow a possessive ending (BERT-інің, моделіне).
_AFTER_POSSESSIVE = ("н", "на", "не", "а", "е", "нда", "нде", "ндағы", "ндегі")
_DERIVED = ("ша", "ше", "шы", "ші", "лық", "лік", "дық", "дік", "тық", "тік")


@cache
def cyrillic_suffixes() -> frozenset[str]:
    """Every plural + possessive + case chain, and the derivational endings."""
    cyr = {a + b + c for a in _PLURAL for b in _POSSESSIVE for c in _CASES} | set(_DERIVED)
    cyr |= {a + b + c for a in _PLURAL for b in _POSSESSIVE if b for c in _AFTER_POSSESSIVE}
    return frozenset(x for x in cyr if x)


def _table(alphabet: str) -> str:
    return alphabet if alphabet in CYR_TO_LATIN else LATIN2018


@cache
def latin_suffixes(alphabet: str) -> dict[str, str]:
    """Latin spelling in ``alphabet`` -> the Cyrillic ending (one of them, when two
    endings are spelled alike)."""
    table = _table(alphabet)
    return {cyrillic_word_to_latin(x, table): x for x in sorted(cyrillic_suffixes())}
