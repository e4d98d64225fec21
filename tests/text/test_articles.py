"""Statute structure: headings in Kazakh and Russian, and the split into articles."""

from __future__ import annotations

import pytest

from kazft.text.articles import parse_heading, split_articles


@pytest.mark.parametrize(
    ("text", "level", "number", "title"),
    [
        ("52-бап. Еңбек шартын жасасу", "article", "52", "Еңбек шартын жасасу"),
        ("52-1-бап. Қосымша бап", "article", "52-1", "Қосымша бап"),
        ("7-БАП. ЖАЛПЫ ЕРЕЖЕЛЕР", "article", "7", "ЖАЛПЫ ЕРЕЖЕЛЕР"),
        (
            "Статья 52. Заключение трудового договора",
            "article",
            "52",
            "Заключение трудового договора",
        ),
        ("Статья 52-1.", "article", "52-1", ""),
        ("1-тарау. Жалпы ережелер", "chapter", "1", "Жалпы ережелер"),
        ("Глава 1. Общие положения", "chapter", "1", "Общие положения"),
        ("ГЛАВА IV. ТРУДОВОЙ ДОГОВОР", "chapter", "IV", "ТРУДОВОЙ ДОГОВОР"),
        ("2-бөлім. Ерекше бөлім", "section", "2", "Ерекше бөлім"),
        ("Раздел 2. Особенная часть", "section", "2", "Особенная часть"),
        ("3-параграф. Сатып алу-сату", "paragraph", "3", "Сатып алу-сату"),
        ("Параграф 3. Купля-продажа", "paragraph", "3", "Купля-продажа"),
    ],
)
def test_headings(text, level, number, title):
    heading = parse_heading(text)
    assert heading is not None
    assert (heading.level, heading.number, heading.title) == (level, number, title)


@pytest.mark.parametrize(
    "text",
    [
        "Осы Кодекстің 52-бабында көзделген жағдайларда шарт бұзылады.",
        "52-бабы бойынша жауапкершілік туындайды.",
        "52-бап бойынша жауапкершілік туындайды.",
        "Статья 52 настоящего Кодекса применяется к договорам.",
        "Статьей 52 установлено иное.",
        "Глава государства подписал закон.",
        "1. Еңбек шарты жазбаша нысанда жасалады.",
    ],
)
def test_cross_references_and_sentences_are_not_headings(text):
    assert parse_heading(text) is None


STATUTE = [
    "Қазақстан Республикасының Еңбек кодексі",
    "Осы Кодекс еңбек қатынастарын реттейді.",
    "1-бөлім. Жалпы бөлім",
    "1-тарау. Жалпы ережелер",
    "1-бап. Негізгі ұғымдар",
    "1. Осы Кодексте мынадай ұғымдар пайдаланылады:",
    "1) жұмыс беруші – жеке немесе заңды тұлға;",
    "2-бап. Еңбек заңнамасы",
    "Еңбек заңнамасы осы Кодекстің 1-бабына сәйкес Конституцияға негізделеді.",
    "2-тарау. Еңбек шарты",
    "Осы тарау еңбек шартын реттейді.",
    "2-1-бап. Еңбек шартының нысаны",
    "Еңбек шарты жазбаша жасалады.",
    "Статья 3. Срок трудового договора",
    "Трудовой договор заключается на неопределенный срок.",
]


def test_statute_split_into_articles_with_chapters_and_nothing_lost():
    units = list(split_articles((t, i) for i, t in enumerate(STATUTE)))
    got = [
        (u.article.number if u.article else None, u.article.title if u.article else None)
        for u in units
    ]
    assert got == [
        (None, None),
        ("1", "Негізгі ұғымдар"),
        ("2", "Еңбек заңнамасы"),
        (None, None),
        ("2-1", "Еңбек шартының нысаны"),
        ("3", "Срок трудового договора"),
    ]
    assert (
        units[0].text
        == "Қазақстан Республикасының Еңбек кодексі\nОсы Кодекс еңбек қатынастарын реттейді."
    )
    assert units[1].text == "\n".join(STATUTE[4:7])
    assert units[1].parts == {
        "section": "1-бөлім. Жалпы бөлім",
        "chapter": "1-тарау. Жалпы ережелер",
    }
    assert units[3].parts["chapter"] == "2-тарау. Еңбек шарты"
    assert units[3].text == "Осы тарау еңбек шартын реттейді."
    assert units[5].parts == {"section": "1-бөлім. Жалпы бөлім", "chapter": "2-тарау. Еңбек шарты"}
    assert [u.first for u in units] == [0, 4, 7, 10, 11, 13]
    # Every block is in a unit's text or is a section/chapter heading kept as metadata.
    kept = "\n".join(u.text for u in units).splitlines()
    parts = {v for u in units for v in u.parts.values()}
    assert [t for t in STATUTE if t not in kept] == [t for t in STATUTE if t in parts]
