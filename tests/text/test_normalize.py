"""normalize: each kind of change, exact outputs, counts, idempotence."""

from __future__ import annotations

import unicodedata

import pytest

from kazft.text.normalize import Normalizer, repair_token


def test_lookalikes_repaired_only_in_mixed_words():
    n = Normalizer()
    # Latin a, P, c, o, i, y inside Cyrillic words; the English word is left alone
    text = "Қазақстaн Pеспубликасы cот oрны мiндеттi, бyл Apple"
    assert n(text) == "Қазақстан Республикасы сот орны міндетті, бул Apple"
    assert n.counts["lookalike"] == 7


def test_schwa_barred_o_and_en_with_hook():
    n = Normalizer()
    assert n("Əлем мен ɵмір, таӊ, ӉАҚ") == "Әлем мен өмір, таң, ҢАҚ"
    assert n.counts["lookalike"] == 4


def test_cyrillic_lookalikes_in_latin_words_and_genuine_mixes():
    assert repair_token("Qаzаq") == "Qazaq"  # Cyrillic а in a Latin word
    assert repair_token("Googleда") == "Googleда"  # a real mix: neither side is all look-alikes
    assert repair_token("Cоp", "cyrillic") == "Cop"  # majority Latin
    assert repair_token("Cоp".replace("p", "р"), "latin") == "Сор"  # majority Cyrillic


def test_invisible_characters_soft_hyphens_and_nbsp():
    n = Normalizer()
    text = "ҚР\u00a0Конституциясы\u200b 52\u00adбабы\ufeff"
    assert n(text) == "ҚР Конституциясы 52бабы"
    assert (n.counts["nbsp"], n.counts["invisible"], n.counts["soft_hyphen"]) == (1, 2, 1)


def test_nfc():
    n = Normalizer()
    decomposed = unicodedata.normalize("NFD", "Jáne ǵasyr")
    assert n(decomposed) == "Jáne ǵasyr"
    assert n.counts["nfc"] == 2


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("guillemets", "Ол «жақсы» деді, «Абай жолы» — роман."),
        ("straight", 'Ол "жақсы" деді, "Абай жолы" — роман.'),
        ("curly", "Ол “жақсы” деді, “Абай жолы” — роман."),
    ],
)
def test_quote_styles(style, expected):
    n = Normalizer(quotes=style)
    assert n('Ол "жақсы" деді, «Абай жолы» — роман.') == expected


def test_dashes_between_spaces_only():
    n = Normalizer(dashes="em")
    text = "Астана - елорда, 21–23 наурыз, 52-бабы\n- Иә -- деді ол"
    assert n(text) == "Астана — елорда, 21–23 наурыз, 52-бабы\n— Иә — деді ол"
    assert n.counts["dashes"] == 3
    assert Normalizer(dashes="hyphen")("Астана — елорда") == "Астана - елорда"


def test_urls_and_code_are_not_touched():
    n = Normalizer(quotes="guillemets")
    # the URL holds a Cyrillic "а": a mixed token, but inside a URL
    text = 'Сайт https://аdilet.zan.kz/kaz және `print("сәлем")` "дұрыс"'
    assert n(text) == 'Сайт https://аdilet.zan.kz/kaz және `print("сәлем")` «дұрыс»'


@pytest.mark.parametrize(
    "text",
    [
        'Қазақстaн Pеспубликасы \u00ad \u200b «x» "y" - z',
        'Ол "жақсы" деді - "иә"',
        "Əлем Googleда Cоp Qаzаq",
        unicodedata.normalize("NFD", "ǵasyr - “ok”"),
    ],
)
@pytest.mark.parametrize("quotes", ["keep", "guillemets", "straight", "curly"])
def test_idempotent(text, quotes):
    n = Normalizer(quotes=quotes, dashes="em")
    once = n(text)
    assert n(once) == once


def test_clean_text_is_unchanged_and_counts_stay_zero():
    n = Normalizer(quotes="guillemets", dashes="em")
    text = "Қазақстан Республикасы — «демократиялық» мемлекет."
    assert n(text) == text
    assert sum(n.counts.values()) == 0
