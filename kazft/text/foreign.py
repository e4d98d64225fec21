"""Which Latin words with no English letter group are foreign, not Kazakh.

A Latin word such as Transformer, Johnson or pandas has no letter that tells it
from Kazakh Latin. ``judge`` reads it against three kinds of evidence:

- the Kazakh lexicon (``kazft.text.lexicon``) and the words of this project's
  Kazakh texts (assets/kk_words.txt): a form they hold is Kazakh, or UNSURE when
  English text uses the same spelling often (Mars, transfer), or a foreign-
  looking NAME when it is capitalised inside a sentence and English text uses
  it clearly more than Russian text uses its Cyrillic reading (Samsung);
- word frequencies of the ``wordfreq`` package: a word the lexicon lacks that
  English text uses at all is foreign (pandas, Bengio); a Russian word or a
  name Russian text uses is a Cyrillic loan or name (Ветров);
- two character 3-gram models for the rest: Kazakh (kk_words and a quarter of
  the lexicon, written in the same Latin alphabet) against English (wordfreq's
  40,000 most frequent English words).

A Kazakh ending without a hyphen (tokenizatordy) or a Kazakh or Russian
surname ending (Tatimov) makes a word Kazakh: Kazakh hyphenates endings after
Latin-script words. Without ``wordfreq`` nothing is judged foreign here.
UNSURE and NAME words are settled by their neighbours in ``latin_to_cyrillic``.

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

from kazft.text import lexicon
from kazft.text.alphabets import latin_keys, latin_lower
from kazft.text.cyrillic_to_latin import cyrillic_word_to_latin
from kazft.text.suffixes import cyrillic_suffixes, latin_suffixes

KAZAKH_WORDS = Path(__file__).resolve().parent / "assets" / "kk_words.txt"
ORDER = 3
ENGLISH_WORDS = 40_000
# Per-character log-likelihood ratio (Kazakh minus English), in nats, below which
# a word is foreign; and the margin a frequent English word needs to stay Kazakh.
FOREIGN_BELOW = -0.7
KAZAKH_ABOVE = 0.9
# wordfreq Zipf frequencies: a word English text uses at all, and one frequent
# enough that a Kazakh form spelled alike (Mars, transfer) is in doubt.
KNOWN_ENGLISH_ZIPF = 1.0
UNSURE_ZIPF = 3.0
RUSSIAN_LOAN_ZIPF = 2.5
RUSSIAN_NAME_ZIPF = 1.0
# How much more frequent in English than in Russian a name the lexicon holds must
# be to read as foreign.
NAME_MARGIN = 0.5
# Letters of a stem of no known word before a Kazakh ending (tokenizator|dy); an
# English word's stem needs lexicon.MIN_STEM (server|ge).
MIN_LOAN_STEM = 4
_LATIN_WORD_RE = re.compile(r"^[a-z]+$")
# Endings of Kazakh and Russian surnames and patronymics, in Latin: -ov(a),
# -ev(a), -in(a), -ovich, -ovna, -uly, -qyzy (both alphabets).
_SURNAME_RE = re.compile(
    r"(?:[oe]va?|[oe]vı?ch|[oe]vna|ına?|ina?|[uū]ly|[uū]lı|[uū]ly|q[yı]z[yı])$"
)


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
    # every fourth form: the model barely changes and builds four times faster
    forms = Counter(cyrillic_word_to_latin(w.lower(), alphabet) for w in lexicon.forms()[::4])
    return frozenset(words), CharModel(words + forms)


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
    best = max(kazakh.logprob(k) for k in latin_keys(word, alphabet))
    return best - english.logprob(word.lower())


def _kazakh_lower(word: str, alphabet: str) -> str:
    """Lower case as the alphabet reads it (2021 I is і, written ı)."""
    return "".join(latin_lower(ch, alphabet) for ch in word)


KAZAKH, FOREIGN, UNSURE = "kazakh", "foreign", "unsure"
# A foreign-looking name that a Kazakh name beside it turns back (Said Nūrlanūly).
NAME = "name"


@cache
def judge(word: str, alphabet: str, name: bool = False, cyrillic: str = "") -> str:
    """KAZAKH, FOREIGN or UNSURE for a Latin word without Kazakh or English letter signs.

    ``name``: the word is capitalised inside a sentence. ``cyrillic``: its Kazakh
    Cyrillic reading (for the Russian-loan check). UNSURE words are Kazakh word
    forms that are also frequent English words or names (Adam, Mars, transfer):
    the caller decides them by their neighbours (Adam Smith, pro bono).
    """
    low, eng = _kazakh_lower(word, alphabet), word.lower()
    keys = latin_keys(word, alphabet)
    wf = _wordfreq()
    english_zipf = wf.zipf_frequency(eng, "en") if wf is not None else 0.0
    vocab, _ = _kazakh(alphabet)
    if len(low) < 2:
        return UNSURE  # a single letter: R, A, s (King's)
    if keys & vocab:  # a word of running Kazakh text (men, bar, adam)
        frequent = name and english_zipf >= UNSURE_ZIPF
        return UNSURE if frequent and len(low) > 2 else KAZAKH
    if any(lexicon.known(k, alphabet) for k in keys):
        if english_zipf < UNSURE_ZIPF:
            return KAZAKH
        # A name (Samsung, London, Martin) the lexicon holds in Cyrillic: English
        # clearly more frequent than Russian says it came in Latin (Ольга, Али and
        # Берлин are about as frequent in Russian: they stay in doubt).
        russian = wf.zipf_frequency(cyrillic.lower(), "ru") if wf is not None else english_zipf
        if name and english_zipf >= russian + NAME_MARGIN:
            return NAME
        return UNSURE
    if wf is None:
        return KAZAKH
    if len(low) == 2:
        return FOREIGN if english_zipf >= UNSURE_ZIPF else KAZAKH
    if english_zipf >= KNOWN_ENGLISH_ZIPF:
        return FOREIGN  # no Kazakh form, a word or name English text uses
    endings = latin_suffixes(alphabet)
    for cut in range(lexicon.MIN_STEM, len(low) - 1):
        if low[cut:] in endings and (
            wf.zipf_frequency(eng[:cut], "en") >= UNSURE_ZIPF or cut >= MIN_LOAN_STEM
        ):
            # a stem with an unhyphenated Kazakh ending (serverge, tokenizatordy):
            # Kazakh hyphenates endings after Latin-script words
            return KAZAKH
    if _russian_loan(cyrillic, name):
        return KAZAKH
    if name and looks_like_surname(low):
        return KAZAKH  # a Kazakh or Russian surname (Tatimov, Abylhojin, Nūrlanūly)
    margin = kazakh_margin(word, alphabet)
    if margin is None:
        return KAZAKH
    if margin < FOREIGN_BELOW or (name and margin < KAZAKH_ABOVE):
        return FOREIGN
    return KAZAKH


def looks_like_surname(low: str) -> bool:
    """Whether a lower-case Latin word ends like a Kazakh or Russian surname."""
    return _SURNAME_RE.search(low) is not None


def english_word(word: str, zipf: float = UNSURE_ZIPF) -> bool:
    """A word English text uses at least this often (API, NATO, said); False
    without wordfreq."""
    wf = _wordfreq()
    return wf is not None and wf.zipf_frequency(word.lower(), "en") >= zipf


def kazakh_text_word(word: str, alphabet: str) -> bool:
    """A word of the Kazakh texts the package ships (biz, men, bar)."""
    return bool(latin_keys(word, alphabet) & _kazakh(alphabet)[0])


def common_word(word: str, alphabet: str) -> bool:
    """A Kazakh common noun or other non-name (men, server): a word of the shipped
    Kazakh texts, or a lexicon form seen in lower case."""
    keys = latin_keys(word, alphabet)
    if keys & _kazakh(alphabet)[0]:
        return True
    return any(form.islower() for k in keys for form in lexicon.readings(k, alphabet))


def english_unknown_to_kazakh(word: str, alphabet: str) -> bool:
    """A frequent English word or name no Kazakh form is spelled like (Nasdaq)."""
    wf = _wordfreq()
    if wf is None or wf.zipf_frequency(word.lower(), "en") < UNSURE_ZIPF:
        return False
    keys = latin_keys(word, alphabet)
    known = any(lexicon.known(k, alphabet) for k in keys)
    return not known and not keys & _kazakh(alphabet)[0]


def _russian_loan(cyrillic: str, name: bool) -> bool:
    """A frequent Russian word (формула, монтаж), or one with a Kazakh ending
    (магистратураны, журналистер), is a loan Kazakh writes in Cyrillic; so is a
    name Russian text uses and English text does not (Ветров, Рыбакина): the
    caller has ruled out names English uses (Morales, Nikola)."""
    wf = _wordfreq()
    if wf is None or not cyrillic:
        return False
    cyr = cyrillic.lower()
    endings = cyrillic_suffixes()
    for cut in range(3, len(cyr) - 1):
        # the stem may share its last letter with the ending
        if cyr[cut:] in endings and any(
            wf.zipf_frequency(stem, "ru") >= RUSSIAN_LOAN_ZIPF
            for stem in (cyr[:cut], cyr[: cut + 1])
        ):
            return True
    return wf.zipf_frequency(cyr, "ru") >= (RUSSIAN_NAME_ZIPF if name else RUSSIAN_LOAN_ZIPF)
