"""Answer metrics: exact match, token F1, chrF++, BLEU, length; perplexity arithmetic.

Pure Python (sacrebleu is imported only where chrF++/BLEU are computed); no mlx.

Normalisation for exact match and token F1 is Unicode-aware. The usual SQuAD
normalisation (lower-case, delete ``string.punctuation``, drop English articles)
removes only ASCII punctuation, so Kazakh and Russian answers keep their
guillemets «», em dashes — and ellipses …, and a decomposed letter (и + U+0306
for й) never equals its composed form. Here: NFC, case folding, NFC again (case
folding can produce decomposed sequences), every character whose Unicode
category starts with ``P`` deleted, whitespace collapsed. Symbols (category
``S*``: ``№``, ``₸``, ``+``) are kept; note that Unicode files ``§`` and ``%``
under punctuation (``Po``), so they are deleted.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kazft.errors import KazftError

CHRF_WORD_ORDER = 2  # chrF++ (Popović 2017): character 6-grams plus word 1- and 2-grams
# sacrebleu's "intl" tokeniser splits on Unicode punctuation and symbols; the
# default "13a" knows only ASCII punctuation and would glue «заң» into one token.
BLEU_TOKENIZE = "intl"


def normalize_answer(text: str) -> str:
    """NFC, case fold, delete Unicode punctuation (category P*), collapse whitespace."""
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    kept = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(kept.split())


def answer_tokens(text: str) -> list[str]:
    """Whitespace tokens of the normalised answer."""
    return normalize_answer(text).split()


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style bag-of-tokens F1 on the normalised answers, in [0, 1].

    Two empty answers agree (1.0); one empty answer against a non-empty one
    scores 0.0."""
    pred, ref = answer_tokens(prediction), answer_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class CorpusScore:
    score: float  # 0..100
    signature: str  # sacrebleu's reproducibility signature


def chrf_pp(predictions: Sequence[str], references: Sequence[str]) -> CorpusScore:
    """Corpus chrF++ (sacrebleu CHRF, word_order=2): n-gram statistics summed
    over all segments, then one F-score (not a mean of sentence scores)."""
    _same_length(predictions, references)
    metric = _sacrebleu().CHRF(word_order=CHRF_WORD_ORDER)
    result = metric.corpus_score(list(predictions), [list(references)])
    return CorpusScore(float(result.score), str(metric.get_signature()))


def bleu(predictions: Sequence[str], references: Sequence[str]) -> CorpusScore:
    """Corpus BLEU (sacrebleu defaults: 4-grams, exp smoothing) with the intl tokeniser."""
    _same_length(predictions, references)
    metric = _sacrebleu().BLEU(tokenize=BLEU_TOKENIZE)
    result = metric.corpus_score(list(predictions), [list(references)])
    return CorpusScore(float(result.score), str(metric.get_signature()))


def _sacrebleu() -> Any:
    try:
        from sacrebleu import metrics
    except ImportError:
        raise KazftError(
            "chrF++ and BLEU need sacrebleu, which is not installed: pip install sacrebleu "
            "(or `kazft eval --no-generate` for loss and perplexity only)"
        ) from None
    return metrics


def _same_length(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else float("nan")


def generation_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """All answer metrics for one system; percentages in 0..100, lengths in words/characters.

    ``len_ratio`` is the mean answer length over the mean reference length (words);
    ``signatures`` holds sacrebleu's signatures (known only after scoring)."""
    _same_length(predictions, references)
    if not predictions:
        raise ValueError("no predictions to score")
    chrf, bl = chrf_pp(predictions, references), bleu(predictions, references)
    words = [len(p.split()) for p in predictions]
    ref_words = [len(r.split()) for r in references]
    mean_ref = _mean(ref_words)
    return {
        "n": len(predictions),
        "chrf++": chrf.score,
        "bleu": bl.score,
        "exact_match": 100.0
        * _mean(exact_match(p, r) for p, r in zip(predictions, references, strict=True)),
        "token_f1": 100.0
        * _mean(token_f1(p, r) for p, r in zip(predictions, references, strict=True)),
        "len_words": _mean(words),
        "len_chars": _mean(len(p) for p in predictions),
        "ref_len_words": mean_ref,
        "len_ratio": _mean(words) / mean_ref if mean_ref else float("nan"),
        "signatures": {"chrf++": chrf.signature, "bleu": bl.signature},
    }


def by_category(
    categories: Sequence[str | None], predictions: Sequence[str], references: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """generation_metrics per category (records without one are left out), sorted by name."""
    groups: dict[str, list[int]] = {}
    for i, cat in enumerate(categories):
        if cat is not None:
            groups.setdefault(cat, []).append(i)
    return {
        cat: generation_metrics([predictions[i] for i in idx], [references[i] for i in idx])
        for cat, idx in sorted(groups.items())
    }


# --- perplexity arithmetic -----------------------------------------------------------


@dataclass(frozen=True)
class NLL:
    """A summed negative log-likelihood (nats) over ``tokens`` predicted tokens."""

    total: float
    tokens: int

    @property
    def loss(self) -> float:
        """Mean NLL per token (the training loss)."""
        return self.total / self.tokens if self.tokens else float("nan")

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss) if self.tokens else float("nan")

    def __add__(self, other: NLL) -> NLL:
        return NLL(self.total + other.total, self.tokens + other.tokens)


def relative_change(before: float, after: float) -> float:
    """(after - before) / before: +0.12 means 12 % higher."""
    return (after - before) / before
