"""Kazakh Latin (2017, 2018, 2021) words to Cyrillic.

Latin -> Cyrillic is not a function (reference, "Latin -> Cyrillic is not a
function"), so each word goes through: the exception lists (с+х written "sh",
һ written "h", Russian loans whose и+а reads like я), then the Kazakh lexicon
(``kazft.text.lexicon``: a real word form, or a form plus a Kazakh ending,
settles the letters the rules can only guess), then a split into letter units
(longest match, so "sh" before "s") and context rules:

- the и/й letter is й after a vowel and и elsewhere;
- и/й + а is я (ия after a consonant), и/й + у is ю (ию after a consonant);
- "ts" is ц at the start of a word or before и/й (-ция, медицина), else тс;
- a 2018 capital I (И/Й or І) is И before a vowel or in a word with a back
  vowel (native back words, and loans, which mix both rows), І otherwise.

Which words are converted at all is decided in ``latin_to_cyrillic``.
"""

from __future__ import annotations

import re
from functools import cache

from kazft.text import lexicon
from kazft.text.alphabets import (
    APOSTROPHES,
    CYR_TO_LATIN,
    CYRILLIC_VOWELS,
    LATIN2017,
    LATIN2018,
    LATIN2021,
    LATIN_UNITS,
    latin_keys,
    latin_lower,
)
from kazft.text.cyrillic_to_latin import cyrillic_word_to_latin
from kazft.text.foreign import english_word
from kazft.text.suffixes import latin_suffixes

# Letters of the other alphabet that are unambiguous, accepted in sloppy text.
_BORROWED = {
    LATIN2018: {"ä": "ә", "ö": "ө", "ü": "ү", "ñ": "ң", "ş": "ш", "ğ": "ғ", "ū": "ұ"},
    LATIN2021: {"á": "ә", "ó": "ө", "ú": "ү", "ń": "ң", "ǵ": "ғ", "ý": "у"},
    LATIN2017: {},
}
# Cyrillic stems whose Latin spelling the rules get wrong. The Latin keys are
# derived from these with the forward tables, so the list is written once.
# fmt: off
EXCEPTION_STEMS = (
    # с + х, which 2018 writes like ш
    "асхана", "схема", "схоласт", "асхат", "исхақ", "ысхақ",
    # һ, which the rules write as the more frequent х
    "жиһаз", "шаһар", "қаһарман", "қаһарлы", "гауһар", "жиһан", "мәшһүр", "шаһид",
    "зиһн", "аллаһ", "ниһал", "сәһар", "айдаһар",
    # и + а / и + у in Russian loans, not я / ю; я / ю after a consonant
    "материал", "социал", "диалог", "диаграмма", "диапазон", "диаметр", "радиа",
    "медиа", "авиа", "индиан", "пиан", "триада", "гигиена", "олимпиад", "нотариус",
    "бюро", "бюджет", "валют", "революц", "эволюц", "инфляц",
    # ь / ъ / э, lost in Latin, in frequent loans
    "объект", "субъект", "съезд", "поэзия", "поэт", "эко", "электр", "элемент",
    "эксперт", "экспорт", "энергия", "энергет", "эпопея", "эпидеми", "этика", "эфир",
    "фильм", "медаль", "гастроль", "факультет", "мобиль", "компьютер", "пьеса",
    "стиль", "рубль", "модель", "контроль", "автомобиль", "пароль", "портфель",
    "интернет", "алкоголь", "апостиль", "мораль", "павильон", "подъезд",
    # ц before a vowel other than и, which the rules write as тс
    "лиценз", "процес", "концеп", "фармацевт", "эвакуац",
    # legal terms: сый+ақы (not сыя-), Russian и+а / и+у
    "сыйақ", "нотариат", "филиал", "субсидиар", "кондоминиум",
    # found on tests/text/data/translit/tuning_kk.txt (never on the held-out file)
    "эксперимент", "концерт",
)
# fmt: on
EXCEPTION_WORDS = ("һәм", "әһә", "эй")
# Kazakh acronyms written in capitals; other all-capital Latin tokens without a
# Kazakh letter (API, BERT, NATO) were Latin in the original and stay Latin.
KAZAKH_ACRONYMS = (
    "ҚР",
    "АҚШ",
    "БҰҰ",
    "ТМД",
    "ЖОО",
    "ЖШС",
    "ЕО",
    "ЖСН",
    "БСН",
    "ЖК",
    "БАҚ",
    "ҰБТ",
    "ЕАЭО",
    "ҚХР",
    "РФ",
    "КСРО",
    "АҚ",
    "ІІМ",
    "ҰҚК",
    "ЖАО",
    "ҚМГ",
    "ТЖ",
    "ЖЭС",
    "ЖЖ",
    # found in the repository's legal texts (the tuning half)
    "АХАТ",
    "ЖТСМ",
    "АЕК",
    "СМС",
    "ЖКТ",
    "МӘМС",
    "ӘКБЖ",
    "ҚК",
    "АК",
    "ҚПК",
    "ӘҚБтК",
)
# Letters that mark a capitals-only token as Kazakh Latin (ҚР -> QR; БҰҰ -> BUU is
# in the list above). Plain I is no sign: English acronyms (API) use it too.
_KAZAKH_CAPS = frozenset("QÁÓÚÝŃǴÄÖÜÑŞĞŪİ")
# "th"/"ph" also occur in Kazakh compounds with -хана (зертхана, кітапхана), and
# "oo" in loans before p, r, l (кооператив, координат, зоология).
# Matched on str.lower() without IGNORECASE, which would let "i" match "ı".
# w, x and a c outside "ch" are no letters of the Kazakh Latin alphabets.
_ALWAYS_FOREIGN_RE = re.compile(r"[wx]|c(?!h)")
ENGLISH_RE = re.compile(r"th(?!ana)|ph(?!ana)|oo(?![prl])|ck|ght|tion|[wx]|c(?!h)|ing$|^y[aeou]")
_VOWEL_I_2018_RE = re.compile(r"[aeouy]i")
_CONSONANT_UNITS_TS = ("т", "с")


@cache
def _exceptions(alphabet: str) -> tuple[dict[str, str], dict[str, str], re.Pattern[str]]:
    """(whole words, stems, a regex matching the longest stem at a word start)."""
    table = alphabet if alphabet in CYR_TO_LATIN else LATIN2018
    words = {cyrillic_word_to_latin(w, table): w for w in EXCEPTION_WORDS}
    words |= {cyrillic_word_to_latin(a.lower(), table): a.lower() for a in KAZAKH_ACRONYMS}
    stems = {cyrillic_word_to_latin(s, table): s for s in EXCEPTION_STEMS}
    # Longest first: the regex alternation takes the first branch that matches.
    keys = sorted(stems, key=len, reverse=True)
    return words, stems, re.compile("|".join(re.escape(k) for k in keys))


KAZAKH_LATIN_LETTERS_RE = re.compile("[qQıáóúýńǵäöüñşğūÁÓÚÝŃǴÄÖÜÑŞĞŪİ]")


@cache
def kazakh_acronyms(alphabet: str) -> frozenset[str]:
    table = alphabet if alphabet in CYR_TO_LATIN else LATIN2018
    return frozenset(cyrillic_word_to_latin(a, table) for a in KAZAKH_ACRONYMS)


def looks_foreign(word: str, alphabet: str = LATIN2021) -> bool:
    """True for words that are not Kazakh Latin: English letter groups (w, x, a lone
    c, th, -tion, y before a vowel...), and capitals-only tokens (API, BERT) that
    hold no Kazakh letter and are not a known Kazakh acronym.

    In 2018 a vowel before a dotted i is foreign too ("email"): 2018 writes й as ı.
    """
    letters = [ch for ch in word if ch.isalpha()]
    caps = len(letters) > 1 and all(ch.isupper() for ch in letters)
    if caps and word in kazakh_acronyms(alphabet):
        return False
    if caps and not set(word) & _KAZAKH_CAPS:
        return not lexicon_acronym(word, alphabet)
    low = word.lower()
    if _ALWAYS_FOREIGN_RE.search(low):
        return True
    if alphabet == LATIN2018 and _VOWEL_I_2018_RE.search(low):
        return True
    # th, -ing and the like also arise from Cyrillic (Айтхожин, лизинг): a form
    # the lexicon holds is no sign, unless it is an English function word (the)
    if not ENGLISH_RE.search(low):
        return False
    return english_word(word, FUNCTION_WORD_ZIPF) or not _lexicon_form(word, alphabet)


def _lexicon_form(word: str, alphabet: str) -> bool:
    return any(lexicon.known(k, alphabet) for k in latin_keys(word, alphabet))


def lexicon_acronym(word: str, alphabet: str) -> bool:
    """A capitals-only token the lexicon holds as an acronym only (ГРЭС, САПР,
    ЖЭО) and English text barely uses (FAO and FATF are English too)."""
    low = "".join(latin_lower(ch, alphabet) for ch in word)
    return lexicon.is_acronym(low, alphabet) and not english_word(word, ACRONYM_ZIPF)


# wordfreq Zipf frequency from which a capitals token is an English acronym too.
ACRONYM_ZIPF = 2.0
# ... from which an English word is too frequent to be a Kazakh form (the, and).
FUNCTION_WORD_ZIPF = 5.0


def listed(word: str, alphabet: str) -> bool:
    """Whether a word is an entry of the exception lists, or a listed stem with a
    Kazakh ending (internetke; not Morales, which only starts like мораль)."""
    words, _, stem_re = _exceptions(alphabet)
    endings = latin_suffixes(alphabet)
    keys = latin_keys(word, alphabet)
    table = alphabet if alphabet in CYR_TO_LATIN else LATIN2018
    linking = {cyrillic_word_to_latin(v, table) for v in "ыі"}
    for k in keys:
        m = stem_re.match(k)
        rest = k[m.end() :] if m and m.end() else None
        if k in words or rest == "" or rest in endings:
            return True
        # a linking vowel before the ending: субъект-і-лері
        if rest and rest[0] in linking and (rest[1:] in endings or not rest[1:]):
            return True
    return False


def _units(low: str, alphabet: str) -> list[str]:
    table = LATIN_UNITS[alphabet]
    borrowed = _BORROWED[alphabet]
    units: list[str] = []
    i = 0
    while i < len(low):
        for size in (4, 3, 2, 1):
            piece = low[i : i + size]
            if len(piece) == size and piece in table:
                units.append(piece)
                i += size
                break
        else:
            units.append(low[i] if low[i] not in borrowed else f"={borrowed[low[i]]}")
            i += 1
    return units


def _harmony_i(values: list[str], index: int) -> str:
    """Resolve a 2018 capital I: И/Й before a vowel or in a back-vowel word."""
    nxt = values[index + 1] if index + 1 < len(values) else ""
    if (nxt in CYRILLIC_VOWELS and nxt != "і") or nxt in ("J", "U"):
        return "J"
    rest = set(values[:index] + values[index + 1 :])
    back = rest & {"а", "о", "ұ", "ы"}
    # Native words keep vowel harmony; a word mixing both rows is a loan (Ипотека).
    return "J" if back else "і"


def convert_word(word: str, alphabet: str, prev: str = "") -> str:
    """One Latin word in ``alphabet`` to Cyrillic; ``prev`` is the letter before it."""
    if alphabet == LATIN2017:
        word = word.translate({ord(a): "'" for a in APOSTROPHES})
    letters = [ch for ch in word if ch.isalpha()]
    all_caps = len(letters) > 1 and all(ch.isupper() for ch in letters)
    words, stems, stem_re = _exceptions(alphabet)
    # A 2018 capital I may stand for ı (И): try the exception keys both ways.
    keys = latin_keys(word, alphabet)
    for key in keys:
        if key in words:
            if words[key].upper() in KAZAKH_ACRONYMS and word[1:2].isupper():
                return words[key].upper()  # AQSh -> АҚШ, but aq -> ақ
            return _apply_case(words[key], word, all_caps)
    # A real word form decides the letters the rules can only guess (я or ия, ц
    # or тс, ь, э); a form the lexicon lacks may still be a known stem + ending.
    if listed(word, alphabet):  # a listed stem (+ ending): the list was checked by hand
        return _convert_by_rules(word, alphabet, prev, keys)
    if any(ch.isupper() for ch in word[1:]) and not all_caps:
        # QazMunaıGaz, MVt: the rules keep each letter's case, the lexicon cannot
        return _convert_by_rules(word, alphabet, prev, keys)
    # Both readings of a 2018 capital I together: the rules' harmony picks one.
    found = tuple(form for key in sorted(keys) for form in lexicon.readings(key, alphabet))
    if all_caps and any(form.isupper() for form in found):
        found = tuple(form for form in found if form.isupper())  # ЖЭК, not жек
    if found:
        rule = _convert_by_rules(word, alphabet, prev, keys)
        return _apply_case(lexicon.choose(found, rule), word, all_caps)
    for key in keys:
        split = lexicon_stem(key, alphabet)
        if split is not None:
            stem, ending = split
            return _apply_case(stem + ending, word, all_caps)
    return _convert_by_rules(word, alphabet, prev, keys)


def lexicon_stem(low: str, alphabet: str) -> tuple[str, str] | None:
    """(Cyrillic stem, Cyrillic ending) when ``low`` is a lexicon form plus a Kazakh
    ending (the longest such stem), else None."""
    endings = latin_suffixes(alphabet)
    for cut in range(len(low) - 1, lexicon.MIN_STEM - 1, -1):
        ending = endings.get(low[cut:])
        if ending is None:
            continue
        found = lexicon.readings(low[:cut], alphabet)
        if found:
            stem = lexicon.choose(found, convert_word(low[:cut], alphabet))
            # Kazakh spelling drops a loan's soft sign before a vowel ending
            # (портфель + і = портфелі) and keeps it before a consonant.
            if stem[-1] in "ьъ" and ending[:1] in CYRILLIC_VOWELS:
                stem = stem[:-1]
            return stem, ending
    return None


def _convert_by_rules(word: str, alphabet: str, prev: str, keys: set[str]) -> str:
    """Exception stems, then letter units and context rules."""
    low = "".join(latin_lower(ch, alphabet) for ch in word)
    letters = [ch for ch in word if ch.isalpha()]
    all_caps = len(letters) > 1 and all(ch.isupper() for ch in letters)
    _, stems, stem_re = _exceptions(alphabet)
    for key in keys:
        m = stem_re.match(key)
        if m and m.end():  # an empty alternation (no stems) matches ""
            stem, n = stems[m.group()], len(m.group())
            tail = convert_word(word[n:], alphabet, prev=stem[-1]) if word[n:] else ""
            # Kazakh spelling drops a loan's soft sign before a vowel suffix
            # (портфель + і = портфелі) and keeps it before a consonant (портфельден).
            if stem[-1] in "ьъ" and tail[:1].lower() in CYRILLIC_VOWELS:
                stem = stem[:-1]
            return _apply_case(stem, word[:n], all_caps) + tail
    units = _units(low, alphabet)
    table = LATIN_UNITS[alphabet]
    values = [table.get(u, u[1:] if u.startswith("=") else u) for u in units]
    # Where each unit starts in the original word, for its case.
    starts, pos = [], 0
    for u in units:
        starts.append(pos)
        pos += len(u) if not u.startswith("=") else 1
    if alphabet == LATIN2018:
        for k, start in enumerate(starts):
            if word[start] == "I":
                values[k] = _harmony_i(values, k)
    out: list[str] = []
    k = 0
    while k < len(values):
        value, upper = values[k], word[starts[k]].isupper()
        nxt = values[k + 1] if k + 1 < len(values) else ""
        before = out[-1][-1].lower() if out and out[-1] else prev
        after_vowel = before in CYRILLIC_VOWELS
        step = 1
        if value == "J" and nxt in ("а", "U"):
            value = ("" if after_vowel or not before else "и") + ("я" if nxt == "а" else "ю")
            step = 2
        elif value == "J":
            value = "й" if after_vowel else "и"
        elif value == "U":
            value = "у"
        elif (value, nxt) == _CONSONANT_UNITS_TS and _is_ts_ce(values, k, prev):
            value, step = "ц", 2
        out.append(
            value.upper() if all_caps else (value[:1].upper() + value[1:] if upper else value)
        )
        k += step
    return "".join(out)


def _is_ts_ce(values: list[str], k: int, prev: str) -> bool:
    if k == 0 and not prev:
        return True
    # Native Kazakh never has тс before и/й (айтсын, кетсе), loans do (-ция, медицина).
    return values[k + 2 : k + 3] == ["J"]


def _apply_case(cyr: str, source: str, all_caps: bool) -> str:
    if all_caps:
        return cyr.upper()
    if source[:1].isupper():
        return cyr[:1].upper() + cyr[1:]
    return cyr
