"""Which script (and which Kazakh Latin alphabet) a text is written in.

Pure letter counting: the three Latin alphabets differ in the letters each one
added (2018 acute accents, 2021 umlauts/cedillas, 2017 apostrophes), so the
variant is the one whose marker letters dominate. Confidences are shares of
letters, so they are exact and reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kazft.text.alphabets import LATIN2017, LATIN2018, LATIN2021, MARKERS_2018, MARKERS_2021
from kazft.text.tokens import ARABIC, CYRILLIC, LATIN, WORD_RE, char_script

MIXED = "mixed"
NONE = "none"
SCRIPTS = (CYRILLIC, LATIN2017, LATIN2018, LATIN2021, LATIN, ARABIC, MIXED, NONE)

# A second script at or above this share of letters makes a text "mixed".
MIXED_SHARE = 0.2
# 2017 writes ә as a', ғ as g' ...: a letter of that set, an apostrophe, then
# a letter or the end of the word. English "don't" matches once, so one hit
# is not enough.
_MARK_2017_RE = re.compile(r"[agnoucsyiAGNOUCSYI]['’ʼ](?=[a-zA-Z]|\b)")
MIN_2017_MARKS = 2
_CYRILLIC_LETTER_RE = re.compile("[\u0400-\u0481\u048a-\u052f\u1c80-\u1c8f\ua640-\ua66e]")
_LATIN_LETTER_RE = re.compile(
    "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0250-\u02af\u1e00-\u1eff]"
)
_ARABIC_LETTER_RE = re.compile(
    "[\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06fc\u0674-\u0678"
    "\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc]"
)
_ANY_LETTER_RE = re.compile(r"[^\W\d_]")
STRONG_WEIGHT = 3
# No IGNORECASE below: it would let "i" match "ı" ('ı'.upper() == 'I').
KAZAKH_LATIN_RE = re.compile(r"[qQ](?![uU])|ı")
_WEAK_2018_RE = re.compile(r"[sS][hH]|(?<=[aeouyáóúýAEOUYÁÓÚÝ])ı")
_WEAK_2021_RE = re.compile(r"(?<=[aeouyäöüūAEOUYÄÖÜŪ])i")


@dataclass(frozen=True)
class ScriptResult:
    script: str
    confidence: float
    mixed_tokens: int = 0


def latin_markers(text: str) -> dict[str, int]:
    """Counts of the letters only one Kazakh Latin alphabet uses."""
    m17 = len(_MARK_2017_RE.findall(text))
    return {
        LATIN2017: m17 if m17 >= MIN_2017_MARKS else 0,
        LATIN2018: sum(ch in MARKERS_2018 for ch in text),
        LATIN2021: sum(ch in MARKERS_2021 for ch in text),
    }


def latin_variant(text: str) -> tuple[str | None, float]:
    """The Kazakh Latin alphabet of ``text`` and a confidence, or (None, 0.0).

    Marker letters count three times as much as the weak hints (й after a
    vowel written ı in 2018 but i in 2021; ш written sh in 2018). Without
    markers, q not followed by u or a dotless ı must show the text is Kazakh
    at all, so English with "sh" is not taken for 2018. A tie goes to 2021,
    the current alphabet (confidence 0.5, "undecided"); ``--from`` overrides it.
    """
    strong = latin_markers(text)
    kazakh = len(KAZAKH_LATIN_RE.findall(text))
    if not any(strong.values()) and not kazakh:
        return None, 0.0
    scores = {k: STRONG_WEIGHT * v for k, v in strong.items()}
    scores[LATIN2018] += len(_WEAK_2018_RE.findall(text))
    scores[LATIN2021] += len(_WEAK_2021_RE.findall(text))
    total = sum(scores.values())
    if not total:
        return LATIN2021, 0.5
    best = max((LATIN2021, LATIN2018, LATIN2017), key=lambda k: scores[k])
    return best, scores[best] / total


def count_scripts(text: str) -> tuple[dict[str, int], int]:
    """Letters per script, and the number of words mixing Cyrillic and Latin."""
    # Regex counting runs in C; a per-character Python loop was the bottleneck.
    cyr = len(_CYRILLIC_LETTER_RE.findall(text))
    lat = len(_LATIN_LETTER_RE.findall(text))
    ara = len(_ARABIC_LETTER_RE.findall(text))
    letters = len(_ANY_LETTER_RE.findall(text))
    counts = {CYRILLIC: cyr, LATIN: lat, ARABIC: ara, "other": max(0, letters - cyr - lat - ara)}
    mixed = 0
    if cyr and lat:
        for m in WORD_RE.finditer(text):
            scripts = {char_script(ch) for ch in m.group()}
            mixed += CYRILLIC in scripts and LATIN in scripts
    return counts, mixed


def detect_script(text: str) -> ScriptResult:
    """Script of ``text``; see docs/data-tools.md for the confidence rules."""
    counts, mixed_tokens = count_scripts(text)
    total = sum(counts.values())
    if not total:
        return ScriptResult(NONE, 1.0)
    ranked = sorted(counts, key=lambda k: counts[k], reverse=True)
    top_share = counts[ranked[0]] / total
    second_share = counts[ranked[1]] / total
    if mixed_tokens:
        # A word mixing scripts is itself the evidence: look-alikes to repair.
        return ScriptResult(MIXED, 1.0, mixed_tokens)
    if second_share >= MIXED_SHARE:
        return ScriptResult(MIXED, round(min(1.0, 0.5 + second_share), 3))
    top = ranked[0]
    if top == LATIN:
        variant, share = latin_variant(text)
        if variant is not None:
            return ScriptResult(variant, round(top_share * share, 3))
    if top == "other":
        return ScriptResult(NONE, round(top_share, 3))
    return ScriptResult(top, round(top_share, 3))
