"""Kazakh word forms: which Latin spellings are Kazakh words, and how they are
written in Cyrillic.

Latin -> Cyrillic loses letters (и/й/і, х/һ, ь, э, я after a consonant), and a
Latin word with no Kazakh letter may be Kazakh or foreign. A list of real word
forms answers both for the words it holds: "apelliatsiialyq" is апелляциялық,
"derbes" is the Kazakh дербес, "pandas" is no Kazakh word.

assets/kk_lexicon.txt.gz holds the distinct Cyrillic word forms (about 250,000)
of the word list inside Tesseract's Kazakh model (tessdata_fast
kaz.traineddata, Apache-2.0, Copyright Google Inc.), lower-cased; a form the
list holds only with a capital is stored capitalised (Миллер): a name; a short
one it holds only in capitals is stored so (ГРЭС): an acronym.
``build_lexicon`` makes it from that list (see ``words_from_traineddata``); the
file is rebuilt and compared by tests/text/test_lexicon.py.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from kazft.text.alphabets import CYR_TO_LATIN
from kazft.text.cyrillic_to_latin import cyrillic_word_to_latin
from kazft.text.suffixes import latin_suffixes

LEXICON = Path(__file__).resolve().parent / "assets" / "kk_lexicon.txt.gz"
# SHA-256 of the kaz.traineddata the shipped file was built from (Debian's
# tesseract-ocr-kaz 1:4.1.0-2, tessdata_fast).
SOURCE_SHA256 = "fcc01eed3815a42b9c6321c4c9d3606f39b166cbf95ade98b7d8d12063eae53d"
# Longest form seen only in capitals that counts as an acronym (ГРЭС, САПР);
# longer ones (words of headlines) go with the names: never seen in lower case.
ACRONYM_LETTERS = 5
_FORM_RE = re.compile(r"^[а-яёәғқңөұүһі]+(?:-[а-яёәғқңөұүһі]+)*$")


def build_lexicon(words: Iterable[str]) -> list[str]:
    """Sorted distinct Cyrillic forms: lower case; capitalised when never seen in
    lower case (a name); in capitals when only ever seen so and short (an acronym)."""
    lower: set[str] = set()
    capital: set[str] = set()
    caps: set[str] = set()
    for word in words:
        low = word.lower()
        if not _FORM_RE.match(low):
            continue
        if word == low:
            lower.add(low)
        elif word.isupper() and len(word) > 1:
            caps.add(low)
        else:
            capital.add(low)
    acronyms = {w for w in caps - lower - capital if len(w) <= ACRONYM_LETTERS}
    names = (capital | caps) - lower - acronyms
    forms = lower | {w.capitalize() for w in names} | {w.upper() for w in acronyms}
    return sorted(forms, key=lambda w: (w.lower(), w))


def words_from_traineddata(traineddata: Path) -> list[str]:
    """The word list of a Tesseract model, unpacked with Tesseract's own tools
    (combine_tessdata, dawg2wordlist)."""
    for tool in ("combine_tessdata", "dawg2wordlist"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} not found (it comes with tesseract-ocr)")
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "lang."
        subprocess.run(
            ["combine_tessdata", "-u", str(traineddata), str(prefix)],
            check=True,
            capture_output=True,
        )
        out = Path(tmp) / "words.txt"
        subprocess.run(
            [
                "dawg2wordlist",
                f"{prefix}lstm-unicharset",
                f"{prefix}lstm-word-dawg",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        return out.read_text(encoding="utf-8").split()


@cache
def forms() -> tuple[str, ...]:
    """The shipped word forms (lower case, or capitalised for names)."""
    return tuple(gzip.decompress(LEXICON.read_bytes()).decode("utf-8").split())


@cache
def _index(table: str) -> dict[str, tuple[str, ...]]:
    """Lower-case Latin spelling in ``table`` -> the Cyrillic forms spelled so."""
    index: dict[str, list[str]] = {}
    for form in forms():
        index.setdefault(cyrillic_word_to_latin(form.lower(), table), []).append(form)
    return {k: tuple(v) for k, v in index.items()}


def readings(latin_lower: str, alphabet: str) -> tuple[str, ...]:
    """The lexicon's Cyrillic forms whose ``alphabet`` spelling is ``latin_lower``
    (lower case as the alphabet reads it); empty for an alphabet without a table."""
    if alphabet not in CYR_TO_LATIN:
        return ()
    return _index(alphabet).get(latin_lower, ())


# A stem before a Kazakh ending has at least this many letters.
MIN_STEM = 3


def known(latin_lower: str, alphabet: str) -> bool:
    """Whether a lower-case Latin spelling is a lexicon form, or one plus a
    Kazakh ending (modelderine)."""
    if readings(latin_lower, alphabet):
        return True
    endings = latin_suffixes(alphabet)
    return any(
        latin_lower[cut:] in endings and readings(latin_lower[:cut], alphabet)
        for cut in range(len(latin_lower) - 1, MIN_STEM - 1, -1)
    )


def choose(candidates: tuple[str, ...], rule: str) -> str:
    """The candidate the letter rules produced, else the closest one to it; forms
    seen in lower case before names and acronyms. Returned in lower case."""
    low = [c.lower() for c in candidates]
    if rule.lower() in low:
        return rule.lower()
    ranked = sorted(
        candidates, key=lambda c: (c[:1].isupper(), _distance(c.lower(), rule.lower()), c)
    )
    return ranked[0].lower()


def is_acronym(latin_lower: str, alphabet: str) -> bool:
    """Whether the lexicon holds a form spelled so only as a capitals acronym."""
    return any(form.isupper() for form in readings(latin_lower, alphabet))


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (the candidates differ in a letter or two)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
