"""Answer metrics against values computed by hand on small fixed strings."""

from __future__ import annotations

import math
import re
import string
import unicodedata

import pytest

from kazft.eval.metrics import (
    NLL,
    bleu,
    by_category,
    chrf_pp,
    exact_match,
    generation_metrics,
    normalize_answer,
    relative_change,
    token_f1,
)


def squad_normalize(text: str) -> str:
    """The usual English-only normalisation (SQuAD's evaluation script)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


PRED_KK = "«Еңбек кодексі» — 2015 жылы қабылданды…"
REF_KK = "еңбек кодексі 2015 жылы қабылданды"
# "й" written as и + COMBINING BREVE (U+0306), as some PDF extractors produce it.
DECOMPOSED = "Мемлекеттік ұи\u0306ым"
COMPOSED = "мемлекеттік ұйым"


def test_normalize_removes_unicode_punctuation_and_folds_case() -> None:
    assert normalize_answer(PRED_KK) == "еңбек кодексі 2015 жылы қабылданды"
    assert normalize_answer("  ҚР-ның\tАзаматтық   кодексі! ") == "қрның азаматтық кодексі"
    # Symbols carry meaning in legal answers and stay.
    assert normalize_answer("№ 414-V, 3 ₸ + 1") == "№ 414v 3 ₸ + 1"
    assert normalize_answer("ІЗДЕУ Әрекеті") == "іздеу әрекеті"


def test_english_only_normalisation_fails_on_kazakh() -> None:
    # The guillemets, the em dash and the ellipsis are not ASCII punctuation.
    assert squad_normalize(PRED_KK) != squad_normalize(REF_KK)
    assert squad_normalize(DECOMPOSED) != squad_normalize(COMPOSED)
    assert exact_match(PRED_KK, REF_KK) == 1.0
    assert exact_match(DECOMPOSED, COMPOSED) == 1.0
    assert token_f1(DECOMPOSED, COMPOSED) == 1.0


def test_normalize_is_nfc_and_idempotent() -> None:
    once = normalize_answer(DECOMPOSED)
    assert once == COMPOSED
    assert unicodedata.is_normalized("NFC", once)
    assert normalize_answer(once) == once


def test_exact_match() -> None:
    assert exact_match("Иә.", "иә") == 1.0
    assert exact_match("Иә", "Жоқ") == 0.0
    assert exact_match("", "") == 1.0


def test_token_f1_hand_computed() -> None:
    # pred [заң, күші, бар, заң], ref [заң, күші, жоқ]: 2 tokens in common
    # (заң counted once: min(2, 1)); P = 2/4, R = 2/3, F1 = 2PR / (P + R) = 4/7.
    assert token_f1("Заң күші бар, заң.", "заң күші жоқ") == pytest.approx(4 / 7, abs=1e-12)
    assert token_f1("бір", "екі") == 0.0
    assert token_f1("", "екі") == 0.0
    assert token_f1("...", "—") == 1.0  # both empty after normalisation


def test_chrf_pp_hand_computed() -> None:
    # Characters without spaces: hyp "заң", ref "заңкүші" (7). Orders with both
    # hyp and ref n-grams: chars 1-3 and words 1 (chars 4-6 and word bigrams have
    # no hyp n-grams). Precision is 1 in each; recall 3/7, 2/6, 1/5, 1/2:
    # mean R = 307/840, mean P = 1, chrF++ = 5PR / (4P + R) = 1535/3667.
    score = chrf_pp(["заң"], ["заң күші"])
    assert score.score == pytest.approx(100 * 1535 / 3667, abs=1e-9)
    assert "nw:2" in score.signature and "nc:6" in score.signature
    assert chrf_pp(["заң күші"], ["заң күші"]).score == pytest.approx(100.0)


def test_bleu_hand_computed() -> None:
    ref = "еңбек шарты жазбаша нысанда жасалуы"
    # 5 tokens, last differs: p1..p4 = 4/5, 3/4, 2/3, 1/2, BP = 1 -> (1/5)^(1/4).
    hyp = "еңбек шарты жазбаша нысанда жасалады"
    assert bleu([hyp], [ref]).score == pytest.approx(100 * 0.2**0.25, abs=1e-9)
    # A 4-token prefix: every precision 1, brevity penalty exp(1 - 5/4).
    short = bleu(["еңбек шарты жазбаша нысанда"], [ref])
    assert short.score == pytest.approx(100 * math.exp(-0.25), abs=1e-9)
    assert "tok:intl" in short.signature


def test_bleu_intl_tokeniser_splits_guillemets() -> None:
    # With 13a, «заң» would be one token and match nothing.
    ref = "« заң күші бар »"
    assert bleu(["«заң күші бар»"], [ref]).score == pytest.approx(100.0)


def test_corpus_scores_sum_statistics() -> None:
    # Corpus BLEU is not the mean of sentence BLEUs: two sentences whose
    # statistics add up to p1..p4 = 8/9, 6/7, 4/5, 2/3 over 9 hyp / 10 ref tokens.
    hyps = ["еңбек шарты жазбаша нысанда жасалады", "еңбек шарты жазбаша нысанда"]
    refs = ["еңбек шарты жазбаша нысанда жасалуы", "еңбек шарты жазбаша нысанда жасалуы"]
    expected = 100 * math.exp(1 - 10 / 9) * (8 / 9 * 6 / 7 * 4 / 5 * 2 / 3) ** 0.25
    assert bleu(hyps, refs).score == pytest.approx(expected, abs=1e-9)


def test_generation_metrics_and_lengths() -> None:
    m = generation_metrics(["Заң күші бар, заң.", "Иә"], ["заң күші жоқ", "иә"])
    assert m["n"] == 2
    assert m["exact_match"] == pytest.approx(50.0)
    assert m["token_f1"] == pytest.approx(100 * (4 / 7 + 1) / 2)
    assert m["len_words"] == pytest.approx((4 + 1) / 2)
    assert m["len_chars"] == pytest.approx((18 + 2) / 2)
    assert m["ref_len_words"] == pytest.approx(2.0)
    assert m["len_ratio"] == pytest.approx(1.25)
    assert set(m["signatures"]) == {"chrf++", "bleu"}
    with pytest.raises(ValueError):
        generation_metrics(["a"], [])


def test_by_category_groups_and_skips_uncategorised() -> None:
    cats = ["еңбек", None, "салық", "еңбек"]
    preds = ["иә", "x", "жоқ", "бір екі"]
    refs = ["иә", "y", "иә", "бір"]
    out = by_category(cats, preds, refs)
    assert list(out) == ["еңбек", "салық"]
    assert out["еңбек"]["n"] == 2 and out["еңбек"]["exact_match"] == pytest.approx(50.0)
    assert out["салық"]["exact_match"] == 0.0


def test_nll_arithmetic() -> None:
    a, b = NLL(3.0, 2), NLL(1.0, 2)
    assert (a + b).loss == pytest.approx(1.0)
    assert (a + b).perplexity == pytest.approx(math.e)
    assert math.isnan(NLL(0.0, 0).loss)
    assert relative_change(10.0, 11.5) == pytest.approx(0.15)
