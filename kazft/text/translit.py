"""Transliteration between Kazakh Cyrillic and the Latin alphabets.

Cyrillic -> Latin lives in ``cyrillic_to_latin`` (word level), Latin ->
Cyrillic in ``latin_to_cyrillic``; this module decides per text and clause
what to convert.

Clauses that are Russian (no Kazakh letters and the language detector agrees)
or English (no Kazakh Latin letters, detector agrees) are left untouched, as
are URLs, numbers and code.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from kazft.text.alphabets import (
    CYRILLIC,
    KAZAKH_EXTRA_LOWER,
    LATIN2017,
    LATIN2018,
    LATIN2021,
)
from kazft.text.cyrillic_to_latin import cyrillic_to_latin
from kazft.text.foreign import kazakh_text_word
from kazft.text.language import detect_language, kazakh_latin_reading, model_probs
from kazft.text.latin_to_cyrillic import latin_to_cyrillic
from kazft.text.normalize import repair_lookalikes
from kazft.text.script import KAZAKH_LATIN_RE, count_scripts, latin_markers, latin_variant
from kazft.text.tokens import LATIN, WORD_RE, clauses

TARGETS = (CYRILLIC, LATIN2018, LATIN2021)
SOURCES = ("auto", CYRILLIC, LATIN2017, LATIN2018, LATIN2021)
_CYR_WORD_RE = re.compile(r"[а-яёәғқңөұүһі]", re.IGNORECASE)
# A clause needs this many words before a language detector's verdict on it is
# trusted enough to leave it untransliterated.
MIN_FOREIGN_WORDS = 3
FOREIGN_CONFIDENCE = 0.5
UNDECIDED = 0.5
# Citations and Latin abbreviations that stay as written when converting to
# Cyrillic: "Smith et al.", "et al.", "e.g.", "Smith (2019)", "(Smith, 2019)".
_NAME = r"[A-Z][a-z'’-]+"
_CITATION_RE = re.compile(
    rf"""
      \b{_NAME}(?:\s+(?:and|&)\s+{_NAME})?\s+et\s+al\.?
    | \bet\s+al\.?
    | \b(?:e\.g\.|i\.e\.|etc\.|vs\.|cf\.|ibid\.|pp\.)
    | \b{_NAME}(?:\s+(?:and|&)\s+{_NAME})?(?=\s*\(\d{{4}}[a-z]?\))
    | (?<=\(){_NAME}(?:\s+(?:and|&)\s+{_NAME})?(?=,\s*\d{{4}})
    """,
    re.VERBOSE,
)
_KAZAKH_NAME_LETTERS = frozenset("qQıáóúýńǵäöüñşğū")
_PRIVATE_RE = re.compile("[\ue000-\uf8ff]")


def _is_russian(clause: str) -> bool:
    words = [w for w in WORD_RE.findall(clause) if _CYR_WORD_RE.search(w)]
    if len(words) < MIN_FOREIGN_WORDS:
        return False
    if any(ch in KAZAKH_EXTRA_LOWER for ch in clause.lower()):
        return False
    result = detect_language(clause)
    return result.language == "ru" and result.confidence >= FOREIGN_CONFIDENCE


def _is_english(clause: str, alphabet: str) -> bool:
    words = WORD_RE.findall(clause)
    if len(words) < MIN_FOREIGN_WORDS or any(latin_markers(clause).values()):
        return False
    if KAZAKH_LATIN_RE.search(clause):  # q not before u, or a dotless ı: Kazakh
        return False
    # half its words Kazakh words of running text: "Biz Lee men Kim (2018) ..."
    if 2 * sum(kazakh_text_word(w, alphabet) for w in words) >= len(words):
        return False
    probs = model_probs(clause)
    return probs is not None and probs.get("en", 0.0) >= FOREIGN_CONFIDENCE


class Transliterator:
    """Callable ``text -> text`` for one target; ``counts`` says what happened."""

    def __init__(self, to: str, source: str = "auto", keep_foreign: bool = True) -> None:
        if to not in TARGETS:
            raise ValueError(f"unknown target {to!r}; choose one of {', '.join(TARGETS)}")
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        self.to = to
        self.source = source
        self.keep_foreign = keep_foreign
        self.counts: Counter[str] = Counter()
        self.votes: Counter[str] = Counter()
        self.file_alphabet: str | None = None

    def learn_file(self, texts: Iterable[str]) -> str | None:
        """Read a whole file's texts first: the Kazakh Latin alphabet most of its
        marked texts use becomes the alphabet of its texts without marker letters
        ("1-bap. Jalpy erejeler." in a Latin 2021 file)."""
        votes: Counter[str] = Counter()
        for text in texts:
            variant, confidence = latin_variant(text)
            if variant is not None and confidence > UNDECIDED:
                votes[variant] += 1
        self.file_alphabet = votes.most_common(1)[0][0] if votes else None
        return self.file_alphabet

    def __call__(self, text: str) -> str:
        # Look-alike letters (Latin "a" in a Cyrillic word) would survive as Latin.
        fixed, repaired = repair_lookalikes(text)
        self.counts["lookalikes_repaired"] += repaired
        # The Latin alphabet is decided per text, not per clause: a short clause
        # may hold none of the letters that tell 2018 from 2021.
        latin_src = self._latin_source(fixed)
        kept: list[str] = []
        if latin_src is not None and self.keep_foreign and not _PRIVATE_RE.search(fixed):
            fixed = _CITATION_RE.sub(lambda m: self._hold(m.group(), kept), fixed)
        out = "".join(self._clause(c, latin_src) for c in clauses(fixed))
        if kept:
            out = _PRIVATE_RE.sub(lambda m: kept[ord(m.group()) - 0xE000], out)
        if latin_src is not None and latin_src != self.to:
            self.counts[f"from_{latin_src}"] += 1
        self.counts["texts"] += 1
        self.counts["changed"] += out != text
        return out

    def _hold(self, citation: str, kept: list[str]) -> str:
        """A private-use placeholder for a citation, restored after conversion."""
        if set(citation) & _KAZAKH_NAME_LETTERS or len(kept) >= 0x1000:
            return citation  # a Kazakh name before a year: convert it
        kept.append(citation)
        self.counts["citations_kept"] += 1
        return chr(0xE000 + len(kept) - 1)

    def _latin_source(self, text: str) -> str | None:
        if self.source in (LATIN2017, LATIN2018, LATIN2021):
            return self.source
        if self.source == CYRILLIC:
            return None
        variant, confidence = latin_variant(text)
        if confidence > UNDECIDED and variant is not None:
            self.votes[variant] += 1
            return variant
        counts, _ = count_scripts(text)
        if counts[LATIN] <= counts[CYRILLIC]:
            return variant  # mostly Cyrillic: only marker letters make Latin words Kazakh
        if self.file_alphabet is not None:
            # The file was read in one alphabet; English clauses and foreign-looking
            # words are still kept by _clause and latin_to_cyrillic.
            return self.file_alphabet
        # No marker letters, or as many for 2018 as for 2021: read the text both
        # ways and keep the reading the language model finds Kazakh.
        reading, _ = kazakh_latin_reading(text)
        if reading is not None:
            self.votes[reading] += 1
            return reading
        # Still undecided: records of one file share an alphabet, earlier
        # verdicts decide; a text with no sign of Kazakh at all is left alone.
        if variant is not None and self.votes:
            return self.votes.most_common(1)[0][0]
        return variant

    def _clause(self, clause: str, latin_src: str | None) -> str:
        if self.keep_foreign and _CYR_WORD_RE.search(clause) and _is_russian(clause):
            self.counts["kept_russian"] += 1
            return clause
        if latin_src is not None and latin_src != self.to:
            if self.keep_foreign and _is_english(clause, latin_src):
                self.counts["kept_english"] += 1
                return clause
            clause = latin_to_cyrillic(clause, latin_src, keep_foreign=self.keep_foreign)
        if self.to == CYRILLIC:
            return clause
        if self.source in ("auto", CYRILLIC) or latin_src is not None:
            return cyrillic_to_latin(clause, self.to)
        return clause


def transliterate(text: str, to: str, source: str = "auto", keep_foreign: bool = True) -> str:
    """Transliterate ``text`` to ``to`` (cyrillic, latin2018 or latin2021)."""
    return Transliterator(to, source, keep_foreign)(text)
