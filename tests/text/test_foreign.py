"""Latin words with no English letter group: foreign ones stay Latin, Kazakh ones convert."""

from __future__ import annotations

import pytest

from kazft.text import foreign
from kazft.text.translit import transliterate


@pytest.mark.parametrize(
    ("latin", "alphabet", "cyrillic"),
    [
        # names and product names inside a sentence stay as they were
        (
            "Biz Harris pen Morgan usynǵan ádisti qoldandyq.",
            "latin2018",
            "Біз Harris пен Morgan ұсынған әдісті қолдандық.",
        ),
        (
            "Biz Redmond qalasynda boldyq.",
            "latin2018",
            "Біз Redmond қаласында болдық.",
        ),
        (
            "Magistraturany bıtırgen jurnalister Flask jobasyna qatysty.",
            "latin2021",
            "Магистратураны бітірген журналистер Flask жобасына қатысты.",
        ),
    ],
)
def test_foreign_names_stay_latin(latin, alphabet, cyrillic):
    assert transliterate(latin, "cyrillic", alphabet) == cyrillic


@pytest.mark.parametrize(
    ("latin", "alphabet", "cyrillic"),
    [
        # Kazakh words that are also English words (men, bar, alma, adam)
        (
            "Ol bar, men de keldim. Alma pisti. Adam kóp.",
            "latin2018",
            "Ол бар, мен де келдім. Алма пісті. Адам көп.",
        ),
        (
            "Ol bar, men de keldım. Alma pıstı. Adam köp.",
            "latin2021",
            "Ол бар, мен де келдім. Алма пісті. Адам көп.",
        ),
        # English or Russian stems with Kazakh endings, Russian loans, a Kazakh name
        (
            "Modelder men serverler tez jūmys ıstedı.",
            "latin2021",
            "Модельдер мен серверлер тез жұмыс істеді.",
        ),
        ("Meniń atym Islam.", "latin2018", "Менің атым Ислам."),
    ],
)
def test_kazakh_words_convert(latin, alphabet, cyrillic):
    assert transliterate(latin, "cyrillic", alphabet) == cyrillic


def test_without_wordfreq_nothing_is_judged_foreign(monkeypatch):
    monkeypatch.setattr(foreign, "_wordfreq", lambda: None)
    monkeypatch.setattr(foreign, "_english", lambda: None)
    foreign.judge.cache_clear()
    try:
        out = transliterate("Biz Redmond qalasynda boldyq.", "cyrillic", "latin2018")
    finally:
        foreign.judge.cache_clear()
    assert out == "Біз Редмонд қаласында болдық."


def test_kazakh_margin_orders_words():
    # the character models alone: an English surname reads less Kazakh than a Kazakh verb
    assert (
        foreign.kazakh_margin("Harris", "latin2018")
        < 0
        < foreign.kazakh_margin("mektepke", "latin2018")
    )


def test_words_of_the_kazakh_texts_are_never_foreign():
    # "emes" (емес) is a word of the shipped Kazakh texts: Kazakh, whatever the models say
    assert foreign.judge("emes", "latin2018") == foreign.KAZAKH
    out = transliterate("Bul durys emes, biraq qabyldandy.", "cyrillic", "latin2018")
    assert out == "Бұл дұрыс емес, бірақ қабылданды."


@pytest.mark.parametrize(
    ("word", "alphabet", "name", "verdict"),
    [
        ("pandas", "latin2018", False, foreign.FOREIGN),  # no Kazakh form; English uses it
        ("Bengio", "latin2018", True, foreign.FOREIGN),
        ("derbes", "latin2018", False, foreign.KAZAKH),  # дербес: a lexicon form
        ("tokenizatordy", "latin2018", False, foreign.KAZAKH),  # an unhyphenated ending
        ("transfer", "latin2018", False, foreign.UNSURE),  # трансфер, and frequent English
        ("Samsung", "latin2021", True, foreign.NAME),  # Самсунг: far more English than Russian
        ("Olga", "latin2018", True, foreign.UNSURE),  # Ольга: more Russian than English
        ("Tatimov", "latin2018", True, foreign.KAZAKH),  # a surname ending
    ],
)
def test_judge_verdicts(word, alphabet, name, verdict):
    from kazft.text.latin_words import convert_word

    reading = convert_word(word, alphabet)
    assert foreign.judge(word, alphabet, name=name, cyrillic=reading) == verdict
