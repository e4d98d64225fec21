"""The Kazakh lexicon: how it is built, that the shipped file is what Tesseract's
Kazakh model holds, and the spellings it settles."""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
from pathlib import Path

import pytest

from kazft.text import lexicon
from kazft.text.cyrillic_to_latin import cyrillic_to_latin
from kazft.text.translit import transliterate

from .doc_builders import ci, needs_tesseract


def test_build_lexicon_keeps_words_names_and_acronyms_apart():
    words = ["адам", "Адам", "АДАМ", "Миллер", "МИЛЛЕР", "ГРЭС", "АСЫЛЫМДАРЫ", "Lee", "1-бап"]
    # a long word seen only in capitals (a headline) counts with the names
    assert lexicon.build_lexicon(words) == ["адам", "Асылымдары", "ГРЭС", "Миллер"]


def _installed_kaz() -> Path | None:
    prefix = os.environ.get("TESSDATA_PREFIX")
    found = glob.glob(f"{prefix}/kaz.traineddata") if prefix else []
    found += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata/kaz.traineddata"))
    found += sorted(glob.glob("/opt/homebrew/share/tessdata/kaz.traineddata"))
    return Path(found[0]) if found else None


def test_shipped_lexicon_is_rebuilt_from_tesseracts_kazakh_model():
    needs_tesseract("kaz")
    source = _installed_kaz()
    if source is None:
        message = "kaz.traineddata not found where Debian or Homebrew put it"
        pytest.fail(message) if ci() else pytest.skip(message)
    rebuilt = lexicon.build_lexicon(lexicon.words_from_traineddata(source))
    shipped = list(lexicon.forms())
    if hashlib.sha256(source.read_bytes()).hexdigest() == lexicon.SOURCE_SHA256:
        assert rebuilt == shipped
    else:  # another tessdata release: its list differs, the build must still work
        assert len(set(rebuilt) & set(shipped)) > 0.5 * len(shipped)


def test_shipped_file_is_what_the_build_writes():
    data = gzip.decompress(lexicon.LEXICON.read_bytes()).decode("utf-8")
    forms = data.split()
    assert len(forms) > 200_000
    assert forms == sorted(forms, key=lambda w: (w.lower(), w))
    assert data.endswith("\n")


@pytest.mark.parametrize("alphabet", ["latin2018", "latin2021"])
@pytest.mark.parametrize(
    "cyrillic",
    [
        # я/ю, ц, э, ь the rules can only guess, settled by real word forms
        "Апелляциялық сот эмитенттер туралы шешім шығарды.",
        "Бюджет миллиард теңгеге жетті, судьясы прецеденттеріне сүйенді.",
        "Тьюринг машинасы туралы дәріс, суперкомпьютерлер бар.",
        # a listed stem no longer swallows a word that only starts like it (асхат)
        "Ол есікті ашатынын айтты.",
        # -инг loans the lexicon holds are not English (2021 spells нг as ng)
        "Лизинг пен мониторинг жүргізілді, маркетинг бөлімі.",
        # Cyrillic acronyms the lexicon holds only in capitals, with their endings
        "ГРЭС-ке жаңа турбина келді, ЖЭО-ның қуаты 300 МВт.",
        # each letter keeps its case in a mixed-case name
        "Мұнай ҚазМұнайГаз компаниясы.",
        # a surname whose т+х reads like English th
        "Айтхожин мектебі.",
        # hashtags are identifiers in any script
        "#жұмыс тегі",
    ],
)
def test_lexicon_settles_spellings(cyrillic, alphabet):
    latin = cyrillic_to_latin(cyrillic, alphabet)
    assert transliterate(latin, "cyrillic", alphabet) == cyrillic
