"""Kazakh letter tables and letter classes (from docs/reference kazakh-alphabets).

Tables are written lower case only; upper case is derived with explicit maps,
because Python's ``str.upper``/``lower`` are wrong for the dotted/dotless i
pair the 2021 alphabet relies on ('i'.upper() is 'I', 'İ'.lower() is two code
points).
"""

from __future__ import annotations

# Alphabet names used across the package and on the command line.
CYRILLIC = "cyrillic"
LATIN2017 = "latin2017"
LATIN2018 = "latin2018"
LATIN2021 = "latin2021"
LATIN_ALPHABETS = (LATIN2017, LATIN2018, LATIN2021)

# Letters beyond Russian (reference: 42 letters = 33 Russian + 9). Which other
# Turkic languages share them is in language.LETTER_USERS.
KAZAKH_EXTRA_LOWER = "әғқңөұүһі"
CYRILLIC_VOWELS = set("аәеёиоөуұүыіэюя")

# Cyrillic -> Latin, letter by letter. "и" and "й" collapse into one Latin
# letter in 2018 and 2021; that loss is why Latin -> Cyrillic needs context.
# Letters outside the official tables (ё ц щ ъ ь э ю я) follow common practice.
# fmt: off
CYR_TO_LATIN: dict[str, dict[str, str]] = {
    LATIN2018: {
        "а": "a", "ә": "á", "б": "b", "в": "v", "г": "g", "ғ": "ǵ", "д": "d",
        "е": "e", "ё": "ıo", "ж": "j", "з": "z", "и": "ı", "й": "ı", "к": "k",
        "қ": "q", "л": "l", "м": "m", "н": "n", "ң": "ń", "о": "o", "ө": "ó",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "ý", "ұ": "u", "ү": "ú",
        "ф": "f", "х": "h", "һ": "h", "ц": "ts", "ч": "ch", "ш": "sh",
        "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "ıý", "я": "ıa",
        "і": "i",
    },
    LATIN2021: {
        "а": "a", "ә": "ä", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "д": "d",
        "е": "e", "ё": "io", "ж": "j", "з": "z", "и": "i", "й": "i", "к": "k",
        "қ": "q", "л": "l", "м": "m", "н": "n", "ң": "ñ", "о": "o", "ө": "ö",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ұ": "ū", "ү": "ü",
        "ф": "f", "х": "h", "һ": "h", "ц": "ts", "ч": "ch", "ш": "ş",
        "щ": "ştş", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
        "і": "ı",
    },
}
# fmt: on

# Upper case of each Latin letter per alphabet, where Python gets it wrong.
LATIN_UPPER: dict[str, dict[str, str]] = {
    LATIN2018: {"ı": "I", "i": "I"},
    LATIN2021: {"i": "İ", "ı": "I"},
    LATIN2017: {},
}
# Lower case of each Latin capital per alphabet. "I" in 2018 is ambiguous
# (И/Й or І) and is resolved later by vowel harmony; see latin_to_cyrillic.
LATIN_LOWER: dict[str, dict[str, str]] = {
    LATIN2018: {"İ": "i"},
    LATIN2021: {"I": "ı", "İ": "i"},
    LATIN2017: {},
}

# Latin -> Cyrillic units, longest first at match time. "J" stands for the
# и/й letter and "U" for у (so that "ıý"/"iu" can become ю); everything else is
# a Cyrillic string.
# fmt: off
LATIN_UNITS: dict[str, dict[str, str]] = {
    LATIN2018: {
        "a": "а", "á": "ә", "b": "б", "d": "д", "e": "е", "f": "ф", "g": "г",
        "ǵ": "ғ", "h": "х", "ı": "J", "i": "і", "j": "ж", "k": "к", "l": "л",
        "m": "м", "n": "н", "ń": "ң", "o": "о", "ó": "ө", "p": "п", "q": "қ",
        "r": "р", "s": "с", "t": "т", "u": "ұ", "ú": "ү", "v": "в", "y": "ы",
        "ý": "U", "z": "з", "sh": "ш", "ch": "ч", "shch": "щ", "c": "ц",
        "w": "у", "x": "кс", "ç": "ч",
    },
    LATIN2021: {
        "a": "а", "ä": "ә", "b": "б", "d": "д", "e": "е", "f": "ф", "g": "г",
        "ğ": "ғ", "h": "х", "i": "J", "ı": "і", "j": "ж", "k": "к", "l": "л",
        "m": "м", "n": "н", "ñ": "ң", "o": "о", "ö": "ө", "p": "п", "q": "қ",
        "r": "р", "s": "с", "ş": "ш", "t": "т", "u": "U", "ū": "ұ", "ü": "ү",
        "v": "в", "y": "ы", "z": "з", "ch": "ч", "ç": "ч", "ştş": "щ",
        "c": "ц", "w": "у", "x": "кс",
    },
    # 2017: apostrophe digraphs. Both ASCII and typographic apostrophes occur.
    LATIN2017: {
        "a": "а", "a'": "ә", "b": "б", "d": "д", "e": "е", "f": "ф", "g": "г",
        "g'": "ғ", "h": "х", "i": "і", "i'": "J", "j": "ж", "k": "к", "l": "л",
        "m": "м", "n": "н", "n'": "ң", "o": "о", "o'": "ө", "p": "п", "q": "қ",
        "r": "р", "s": "с", "s'": "ш", "t": "т", "u": "ұ", "u'": "ү", "v": "в",
        "y": "ы", "y'": "U", "z": "з", "c'": "ч", "c": "ц", "w": "у", "x": "кс",
    },
}
# fmt: on
APOSTROPHES = "'’ʼ"

# Letters that mark a Latin text as one alphabet rather than another.
MARKERS_2018 = set("áóúýńǵÁÓÚÝŃǴ")
MARKERS_2021 = set("äöüñşğūÄÖÜÑŞĞŪİ")

# Look-alike characters (reference, "Look-alike characters"): Latin letters
# drawn like Cyrillic ones. Repaired only inside tokens that mix scripts.
# fmt: off
LATIN_TO_CYR_LOOKALIKE = {
    "a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і",
    "h": "һ", "y": "у", "ə": "ә", "ɵ": "ө",
    "A": "А", "B": "В", "E": "Е", "K": "К", "M": "М", "H": "Н", "O": "О",
    "P": "Р", "C": "С", "T": "Т", "X": "Х", "Y": "У", "I": "І", "Ə": "Ә",
    "Ɵ": "Ө",
}
CYR_TO_LATIN_LOOKALIKE = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "і": "i",
    "һ": "h", "у": "y", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "У": "Y",
    "І": "I", "ј": "j", "ѕ": "s",
}
# fmt: on
# Cyrillic letters of other languages used in place of Kazakh ones.
CYR_SUBSTITUTES = {"ӊ": "ң", "Ӊ": "Ң", "ҥ": "ң", "Ҥ": "Ң"}

# Arabic-script letters used by the Kazakh (tote jazu) orthography and not by
# Arabic or Persian: high hamza and the extra vowel and consonant letters.
ARABIC_KAZAKH = set("\u0674\u0675\u0676\u0677\u0678\u06ad\u06c7\u06c6\u06cb\u06d5")


def latin_upper(ch: str, alphabet: str) -> str:
    """Upper case of one Latin letter in ``alphabet``."""
    return LATIN_UPPER.get(alphabet, {}).get(ch) or ch.upper()


def latin_lower(ch: str, alphabet: str) -> str:
    """Lower case of one Latin letter in ``alphabet`` (one code point)."""
    special = LATIN_LOWER.get(alphabet, {}).get(ch)
    if special is not None:
        return special
    low = ch.lower()
    return low if len(low) == 1 else ch


def latin_keys(word: str, alphabet: str) -> set[str]:
    """A Latin word's lower-case readings in ``alphabet``: a 2018 capital I may
    stand for ı (И/Й) as well as i (І)."""
    low = "".join(latin_lower(ch, alphabet) for ch in word)
    if alphabet == LATIN2018 and word[:1] == "I":
        return {low, "ı" + low[1:]}
    return {low}
