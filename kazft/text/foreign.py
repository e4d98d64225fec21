"""Which Latin words with no English letter group are foreign, not Kazakh.

A Latin word such as Transformer, Johnson or pandas has no letter that tells it
from Kazakh Latin, so two character models judge it: a Kazakh one, trained on
the words of the repository's Kazakh tuning texts (assets/kk_words.txt: the
shipped corpus, the legal sample and Q&A, the transliteration tuning text)
written in the same Latin alphabet, and an English one, trained on the word
list of the ``wordfreq`` package (English words and the names and product names
frequent in English text). A word of the Kazakh list (men, bar, alma, adam), or
a Kazakh or English stem with a Kazakh ending (modelder), is Kazakh; otherwise
the word is foreign when the English model is clearly better, or, for a
capitalised word inside a sentence (a name: Ubuntu, Tesla), when it is a
frequent English word and the Kazakh model is not clearly better. Without
``wordfreq`` nothing is judged foreign here.

assets/kk_words.txt holds the distinct lower-case Cyrillic words (two letters
or more) of kazft/model/assets/corpus_kk.txt, data/legal/legal_qa.jsonl,
tests/text/data/legal_sample_kk.txt and tests/text/data/translit/tuning_kk.txt;
never of a held-out text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import cache
from pathlib import Path

from kazft.text.alphabets import latin_lower
from kazft.text.cyrillic_to_latin import cyrillic_word_to_latin

KAZAKH_WORDS = Path(__file__).resolve().parent / "assets" / "kk_words.txt"
ORDER = 3
ENGLISH_WORDS = 40_000
# Per-character log-likelihood ratio (Kazakh minus English), in nats, below which
# a word is foreign; and the margin a frequent English word needs to stay Kazakh.
FOREIGN_BELOW = -0.7
FREQUENT_ENGLISH_ZIPF = 3.0
KAZAKH_ABOVE = 0.9
RUSSIAN_LOAN_ZIPF = 2.5
# A name Russian writes about as often as English (Ислам, Берлин) was most likely
# Cyrillic in the original.
NAME_MARGIN = 0.5
_LATIN_WORD_RE = re.compile(r"^[a-z]+$")


class CharModel:
    """Character ``ORDER``-gram model over words, add-one smoothed."""

    def __init__(self, words: Counter[str]) -> None:
        self.grams: Counter[str] = Counter()
        self.contexts: Counter[str] = Counter()
        letters: set[str] = set()
        for word in words:  # word types: frequent words would swamp the model
            padded = "^" * (ORDER - 1) + word + "$"
            letters.update(word)
            for i in range(ORDER - 1, len(padded)):
                self.grams[padded[i - ORDER + 1 : i + 1]] += 1
                self.contexts[padded[i - ORDER + 1 : i]] += 1
        self.vocab = len(letters) + 1

    def logprob(self, word: str) -> float:
        """Mean log-probability per character (end of word included)."""
        padded = "^" * (ORDER - 1) + word + "$"
        total = 0.0
        for i in range(ORDER - 1, len(padded)):
            gram = padded[i - ORDER + 1 : i + 1]
            total += math.log((self.grams[gram] + 1) / (self.contexts[gram[:-1]] + self.vocab))
        return total / (len(padded) - ORDER + 1)


@cache
def _wordfreq():  # type: ignore[no-untyped-def]
    try:
        import wordfreq
    except ImportError:
        return None
    return wordfreq


@cache
def _kazakh(alphabet: str) -> tuple[frozenset[str], CharModel]:
    text = KAZAKH_WORDS.read_text(encoding="utf-8")
    words = Counter(cyrillic_word_to_latin(w, alphabet) for w in text.split())
    return frozenset(words), CharModel(words)


@cache
def _english() -> CharModel | None:
    wf = _wordfreq()
    if wf is None:
        return None
    words = Counter(w for w in wf.top_n_list("en", ENGLISH_WORDS) if _LATIN_WORD_RE.match(w))
    return CharModel(words)


def kazakh_margin(word: str, alphabet: str) -> float | None:
    """Kazakh minus English log-likelihood per character, or None without wordfreq."""
    english = _english()
    if english is None:
        return None
    _, kazakh = _kazakh(alphabet)
    best = max(kazakh.logprob(k) for k in _kazakh_keys(word, alphabet))
    return best - english.logprob(word.lower())


def _kazakh_keys(word: str, alphabet: str) -> set[str]:
    """The word's lower-case Kazakh readings: a 2018 capital I may stand for ı (И)."""
    low = _kazakh_lower(word, alphabet)
    if alphabet == "latin2018" and word[:1] == "I":
        return {low, "ı" + low[1:]}
    return {low}


def _kazakh_lower(word: str, alphabet: str) -> str:
    """Lower case as the alphabet reads it (2021 I is і, written ı)."""
    return "".join(latin_lower(ch, alphabet) for ch in word)


@cache
def reads_foreign(
    word: str,
    alphabet: str,
    suffixes: frozenset[str] = frozenset(),
    name: bool = False,
    cyrillic: str = "",
    cyrillic_suffixes: frozenset[str] = frozenset(),
) -> bool:
    """True when a Latin word without Kazakh or English letter signs is foreign.

    ``suffixes`` are Kazakh endings in ``alphabet``: a word that is a Kazakh or
    English stem plus one of them (modelder, serverge) is a Kazakh word.
    ``name``: the word is capitalised inside a sentence. ``cyrillic``: the word's
    Kazakh Cyrillic reading; a frequent Russian word (формула, миллион, монтаж)
    is a loan Kazakh writes in Cyrillic, unless English uses it more (a name);
    so is one with a Kazakh ending from ``cyrillic_suffixes`` (магистратураны,
    журналистер: the stem may share its last letter with the ending).
    """
    low, eng = _kazakh_lower(word, alphabet), word.lower()
    vocab, _ = _kazakh(alphabet)
    if _kazakh_keys(word, alphabet) & vocab:
        return False
    wf = _wordfreq()
    for cut in range(2, len(low) - 1):
        stem, ending = low[:cut], low[cut:]
        if ending in suffixes and (
            stem in vocab or (wf is not None and wf.zipf_frequency(eng[:cut], "en") >= 3.0)
        ):
            return False
    margin = kazakh_margin(word, alphabet)
    if margin is None:
        return False
    if wf is None:
        return False
    russian = wf.zipf_frequency(cyrillic.lower(), "ru") if cyrillic else 0.0
    english_zipf = wf.zipf_frequency(eng, "en")
    cyr = cyrillic.lower()
    for cut in range(3, len(cyr) - 1):
        if cyr[cut:] in cyrillic_suffixes and any(
            wf.zipf_frequency(stem, "ru") >= RUSSIAN_LOAN_ZIPF
            for stem in (cyr[:cut], cyr[: cut + 1])
        ):
            return False
    if russian >= RUSSIAN_LOAN_ZIPF and (not name or russian + NAME_MARGIN >= english_zipf):
        return False
    if margin < FOREIGN_BELOW:
        return True
    return name and english_zipf >= FREQUENT_ENGLISH_ZIPF and margin < KAZAKH_ABOVE
