"""Which Latin words stay Latin: the judge's verdicts and what their neighbours decide.

Each case is a Kazakh Cyrillic sentence as written (its Latin words were Latin in
the original); it is spelled in Latin and must come back unchanged.
"""

from __future__ import annotations

import pytest

from kazft.text.cyrillic_to_latin import cyrillic_to_latin
from kazft.text.translit import transliterate

KEPT = [
    # a Kazakh form that is a frequent English word follows a kept neighbour of
    # its kind: a name with a name, a phrase with a phrase
    "Біз Adam Smith еңбектерін оқыдық.",
    "Біз learning rate мәнін азайттық.",
    # ... across a joiner, and between two kept words
    "Зерттеуге Johnson мен Miller қатысты.",
    "Бұл тезисті Hobsbawm and Ranger ұсынды.",
    # a hyphenated name stays whole; a possessive s stays with its name
    "Сол үшін bert-base-multilingual-cased нұсқасын алдық.",
    "Ол King's College London-да оқиды.",
    # a name read as Kazakh inside a foreign name; a brand before its kind
    "Парижге Air Astana рейсімен ұштық.",
    "Ол Zara дүкенінде жұмыс істейді.",
    # a name far more frequent in English than in Russian
    "Жеңгем Samsung смартфонын мақтайды.",
]
CONVERTED = [
    # a name beside a Kazakh name is Kazakh
    "Баяндаманы Даниел Нұрланұлы жасады.",
    # a common Kazakh noun starting a sentence is no name (Server Nginx)
    "Сервер Nginx арқылы жұмыс істейді.",
    # a lower-case Kazakh word is not pulled by a capitalised name
    "Британдық Coldplay тобы келеді.",
    # a Russian surname beside a foreign name; a Kazakh name with an ending
    "Теннисші Елена Рыбакина Wimbledon-да жеңді.",
    "Тамақ жеткізу сервисі Glovo Шымкентте де жұмысын бастады.",
    # half the clause is Kazakh: no English clause
    "Біз Lee мен Kim (2018) сипаттаған хаттаманы өзгерттік.",
]


@pytest.mark.parametrize("alphabet", ["latin2018", "latin2021"])
@pytest.mark.parametrize("cyrillic", KEPT + CONVERTED)
def test_round_trip_keeps_what_was_latin(cyrillic, alphabet):
    latin = cyrillic_to_latin(cyrillic, alphabet)
    assert transliterate(latin, "cyrillic", alphabet) == cyrillic
