"""Kazakh Latin text to Cyrillic: which words to convert, and converting them.

A Latin word with a Kazakh letter is Kazakh. One with an English letter group
(w, x, c outside "ch", th, -tion), a capitals-only token that is no Kazakh
acronym (API), or one followed by a hyphen and a Kazakh ending (BERT-ti) was
Latin in the original and stays. The rest go to ``kazft.text.foreign.judge``:
KAZAKH, FOREIGN, NAME (a foreign-looking name) or UNSURE (a Kazakh form that is
also a frequent English word: Adam, transfer). Then neighbours decide: an
UNSURE word next to a kept word of its kind stays Latin (Adam Smith, learning
rate, Johnson men Miller), a NAME beside a Kazakh name converts (Said
Nurlanuly), hyphenated names stay whole (bert-base-cased), and a name the
judge read as Kazakh inside a foreign name stays (Air Astana). Everything else
goes to ``kazft.text.latin_words.convert_word``.
"""

from __future__ import annotations

import re
from functools import cache

from kazft.text import lexicon
from kazft.text.alphabets import LATIN2017, LATIN2018, LATIN2021, LATIN_UNITS, latin_lower
from kazft.text.cyrillic_to_latin import cyrillic_word_to_latin
from kazft.text.foreign import (
    FOREIGN,
    KAZAKH,
    NAME,
    UNSURE,
    common_word,
    english_unknown_to_kazakh,
    english_word,
    judge,
    looks_like_surname,
)
from kazft.text.latin_words import (
    KAZAKH_LATIN_LETTERS_RE,
    convert_word,
    kazakh_acronyms,
    lexicon_acronym,
    listed,
    looks_foreign,
)
from kazft.text.suffixes import latin_suffixes
from kazft.text.tokens import WORD_2017_RE, WORD_RE, map_unprotected


def _suffix_follows(text: str, end: int, alphabet: str) -> bool:
    """Whether ``text[end:]`` starts with a hyphen and a Kazakh suffix (in Latin)."""
    if text[end : end + 1] != "-":
        return False
    m = WORD_RE.match(text, end + 1)
    return m is not None and m.group().lower() in latin_suffixes(alphabet)


# Words this short (of, Ad hoc, King's) join a kept neighbour of either case.
SHORT_WORD = 2


_SENTENCE_END = frozenset('.!?:;«"“„(')


def _inside_sentence(m: re.Match[str]) -> bool:
    """Whether the matched word follows another word of its sentence."""
    before = m.string[: m.start()].rstrip()
    return bool(before) and before[-1] not in _SENTENCE_END


def _sentence_start(m: re.Match[str]) -> bool:
    """Whether the matched word starts a sentence (not a quotation or bracket)."""
    before = m.string[: m.start()].rstrip()
    return not before or before[-1] in ".!?:;"


def _has_latin(word: str) -> bool:
    return any("a" <= ch.lower() <= "z" or ch in "ıİáäóöúüūýńñǵğş" for ch in word)


def _verdict(m: re.Match[str], alphabet: str) -> tuple[str, bool]:
    """(FOREIGN, KAZAKH, NAME or UNSURE, whether only the word judge said so)."""
    word, text = m.group(), m.string
    if not _has_latin(word):
        return KAZAKH, False  # Cyrillic or another script: passes through
    if text[m.start() - 1 : m.start()] == "-" and word.lower() in latin_suffixes(alphabet):
        return KAZAKH, False  # the ending of BERT-ti, 2026-ğa
    if looks_foreign(word, alphabet):
        return FOREIGN, False
    if word.upper() in kazakh_acronyms(alphabet) or (
        word.isupper() and lexicon_acronym(word, alphabet)
    ):
        return KAZAKH, False  # ЖОО-ның, ГРЭС-ке: Kazakh acronyms take hyphens too
    if marks := set(KAZAKH_LATIN_LETTERS_RE.findall(word)):
        # q is the one Kazakh letter English also writes (Nasdaq, Iraq)
        if marks <= {"q", "Q"} and alphabet in (LATIN2018, LATIN2021):
            return (FOREIGN if english_unknown_to_kazakh(word, alphabet) else KAZAKH), False
        return KAZAKH, False
    if _suffix_follows(text, m.end(), alphabet):
        return FOREIGN, False
    if alphabet not in (LATIN2018, LATIN2021) or listed(word, alphabet):
        return KAZAKH, False
    name = _inside_sentence(m) and word[0].isupper()
    return judge(word, alphabet, name=name, cyrillic=convert_word(word, alphabet)), True


# wordfreq Zipf frequency from which a capitalised word the judge read as Kazakh
# may join a foreign name beside it (Ozon, not Erlan).
NAME_ENGLISH_ZIPF = 2.0
# Words that join two names of one kind (Johnson men Miller, Python, R jáne Go).
_JOINERS = frozenset({"and", "or", "men", "ben", "pen", "jáne", "jäne", "nemese", "ne"})
# What may stand between two words of one name or phrase: a space, a comma, an
# apostrophe (King's), an ampersand, a slash, a hyphen (bert-base-cased).
_ADJACENT_RE = re.compile(r"\s*,?\s+|['’]|\s*&\s*|\s*/\s*|-")


def _plain_name(m: re.Match[str], alphabet: str) -> bool:
    """A capitalised word inside a sentence, no Kazakh or Russian surname, with no
    Kazakh ending: the shape of a foreign name (Astana in Air Astana)."""
    word = m.group()
    low = "".join(latin_lower(ch, alphabet) for ch in word)
    return (
        word[0].isupper()
        and not _sentence_start(m)
        and not looks_like_surname(low)
        and not any(
            low.endswith(e) and len(low) - len(e) >= lexicon.MIN_STEM
            for e in latin_suffixes(alphabet)
            if len(e) > 1
        )
    )


# Nouns naming a kind of product or firm: a name before one is a brand, which
# Kazakh writes as the brand does (Zara дүкені, Samsung смартфоны).
BRAND_HEADS = (
    "компания", "дүкен", "көлік", "көліг", "бренд", "маркетплейс", "қосымша",
    "платформа", "смартфон", "сервис", "браузер", "ноутбук", "фирма", "корпорация",
    "концерн", "марка",
)  # fmt: skip


@cache
def _brand_heads(alphabet: str) -> tuple[str, ...]:
    return tuple(cyrillic_word_to_latin(h, alphabet) for h in BRAND_HEADS)


def _brand_head(word: str, alphabet: str) -> bool:
    low = "".join(latin_lower(ch, alphabet) for ch in word)
    return word.islower() and low.startswith(_brand_heads(alphabet))


def _beside_kazakh_name(matches: list[re.Match[str]], i: int, alphabet: str) -> bool:
    """Whether a capitalised word with Kazakh letters or a surname ending stands
    next to word ``i`` (one space apart)."""
    for j in (i - 1, i + 1):
        if not 0 <= j < len(matches):
            continue
        a, b = sorted((i, j))
        if matches[a].string[matches[a].end() : matches[b].start()] != " ":
            continue
        other = matches[j].group()
        low = "".join(latin_lower(ch, alphabet) for ch in other)
        # a name: capitalised inside a sentence (Jeñgem at a sentence start is none)
        if (
            other[0].isupper()
            and not _sentence_start(matches[j])
            and (KAZAKH_LATIN_LETTERS_RE.search(other) or looks_like_surname(low))
        ):
            return True
    return False


class _Words:
    """The words of one stretch of text, their verdicts, and which stay Latin."""

    def __init__(self, matches: list[re.Match[str]], alphabet: str) -> None:
        self.matches = matches
        self.alphabet = alphabet
        self.verdicts = [_verdict(m, alphabet) for m in matches]
        self.keep = [verdict == FOREIGN for verdict, _ in self.verdicts]

    def word(self, i: int) -> str:
        return self.matches[i].group()

    def gap(self, i: int, j: int) -> str | None:
        """What stands between words ``i`` and ``j`` when it joins them, else None."""
        if not 0 <= j < len(self.matches):
            return None
        a, b = sorted((i, j))
        between = self.matches[a].string[self.matches[a].end() : self.matches[b].start()]
        return between if _ADJACENT_RE.fullmatch(between) else None

    def brand(self, i: int) -> bool:
        """A name the judge read as Kazakh before a noun for a product or firm:
        Zara dúkeninde, Lada kóligin, Steam platformasynda."""
        return (
            self.verdicts[i][1]
            and self.gap(i, i + 1) == " "
            and _plain_name(self.matches[i], self.alphabet)
            and _brand_head(self.word(i + 1), self.alphabet)
        )

    def inside_foreign_name(self, i: int, j: int) -> bool:
        """Word ``i``, read as Kazakh, inside a foreign name with kept word ``j``
        (Air Astana, Astana Hub): both capitalised inside a sentence, the other no
        acronym and without a hyphenated ending (Rybakina Wimbledon-da), this one
        a plain name (no surname, no unhyphenated ending)."""
        other = self.word(j)
        return (
            self.gap(i, j) == " "
            and other[0].isupper()
            and not other.isupper()
            and not _sentence_start(self.matches[min(i, j)])
            and not _suffix_follows(self.matches[j].string, self.matches[j].end(), self.alphabet)
            and _plain_name(self.matches[i], self.alphabet)
        )

    def follows_neighbours(self, i: int) -> bool:
        """Whether a word only the judge decided goes with a kept neighbour."""
        verdict, soft = self.verdicts[i]
        if not soft:
            return False
        word = self.word(i)
        # a capitalised word read as Kazakh that English text knows may join a
        # name like an unsure word (Wildberries pen Ozon; not Erlan)
        name_like = (
            verdict == KAZAKH
            and _plain_name(self.matches[i], self.alphabet)
            and english_word(word, NAME_ENGLISH_ZIPF)
        )
        for step in (-1, 1):
            j = i + step
            between = self.gap(i, j)
            if between is None:
                continue
            if between == "-" and self.keep[j]:
                return True  # one hyphenated name: bert-base-cased
            if verdict == KAZAKH and self.keep[j] and self.inside_foreign_name(i, j):
                return True
            if verdict != UNSURE and not name_like:
                continue
            if self.keep[j] and self.keep_at(i - step) and self.gap(i, i - step) is not None:
                return True  # between two kept words: Hobsbawm and Ranger
            if self.word(j).lower() in _JOINERS and not self.keep[j]:
                j += step  # Johnson men Miller
                if self.gap(j - step, j) is None:
                    continue
            if self.keep[j] and self.same_kind(i, j):
                return True
        return False

    def keep_at(self, i: int) -> bool:
        return 0 <= i < len(self.matches) and self.keep[i]

    def same_kind(self, i: int, j: int) -> bool:
        """A name with a name (Adam Smith), lower case with lower case (learning
        rate), a short word with either (of, Ad hoc, the s of King's); "Coldplay
        toby" is a name and a Kazakh word. A common Kazakh word's capital at a
        sentence start says nothing (Server Nginx; but Andreas Schleicher)."""
        word, other = self.word(i), self.word(j)
        if min(len(word), len(other)) <= SHORT_WORD:
            return True
        capital = word[0].isupper()
        return other[0].isupper() == capital and (
            not capital
            or not _sentence_start(self.matches[i])
            or not common_word(word, self.alphabet)
        )


def _keep_latin(matches: list[re.Match[str]], alphabet: str) -> list[bool]:
    """Which words stay Latin: FOREIGN ones; NAME ones unless a Kazakh name stands
    beside them; brands before their kind; then, until nothing changes, words
    only the judge decided that go with a kept neighbour (``_Words``)."""
    words = _Words(matches, alphabet)
    for i, (verdict, _) in enumerate(words.verdicts):
        # a name beside a Kazakh name is Kazakh (Daniel Nūrlanūly)
        if verdict == NAME and not _beside_kazakh_name(matches, i, alphabet):
            words.keep[i] = True
    for i in range(len(matches) - 1):
        if not words.keep[i] and words.brand(i):
            words.keep[i] = True
    changed = True
    while changed:
        changed = False
        for i in range(len(matches)):
            if not words.keep[i] and words.follows_neighbours(i):
                words.keep[i] = changed = True
    return words.keep


def latin_to_cyrillic(text: str, alphabet: str, keep_foreign: bool = True) -> str:
    """Convert the Kazakh Latin words of ``text`` to Cyrillic.

    URLs, numbers, code and words that look foreign are kept. Cyrillic and
    other scripts pass through untouched.
    """
    if alphabet not in LATIN_UNITS:
        raise ValueError(f"unknown Latin alphabet {alphabet!r}")
    word_re = WORD_2017_RE if alphabet == LATIN2017 else WORD_RE

    def convert_piece(piece: str) -> str:
        matches = list(word_re.finditer(piece))
        keep = _keep_latin(matches, alphabet) if keep_foreign else [False] * len(matches)
        out, pos = [], 0
        for m, kept in zip(matches, keep, strict=True):
            out.append(piece[pos : m.start()])
            out.append(
                m.group()
                if kept or not _has_latin(m.group())
                else convert_word(m.group(), alphabet)
            )
            pos = m.end()
        out.append(piece[pos:])
        return "".join(out)

    return map_unprotected(text, convert_piece)
