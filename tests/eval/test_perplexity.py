"""Loss/perplexity on the tiny model; scale 0 reproduces the base exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kazft.errors import ModelError
from kazft.eval.metrics import NLL
from kazft.eval.perplexity import adapter_disabled, lora_layers, sequence_nll, total_nll

TEXTS = [
    "Еңбек шарты жазбаша нысанда жасалады.",
    "Трудовой договор заключается в письменной форме.",
    "Қазақстан",
]


def _sequences(tokenizer, masks_from: int = 1):
    seqs = []
    for text in TEXTS:
        toks = [tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False)]
        # Train only from `masks_from` on (a prompt/answer split in miniature).
        seqs.append((toks, [i >= masks_from for i in range(len(toks))]))
    return seqs


def _logits(model, tokens):
    import mlx.core as mx

    out = model(mx.array([tokens])).astype(mx.float32)
    mx.eval(out)
    return np.array(out)


def test_scale_zero_is_exactly_the_base(tiny_loaded, tiny_adapted) -> None:
    base, tokenizer = tiny_loaded
    adapted, _ = tiny_adapted
    tokens = _sequences(tokenizer)[0][0]
    plain = _logits(base, tokens)
    with_adapter = _logits(adapted, tokens)
    assert np.abs(with_adapter - plain).max() > 1e-3  # the random adapter does change outputs
    with adapter_disabled(adapted):
        off = _logits(adapted, tokens)
    np.testing.assert_array_equal(off, plain)
    # The scales are restored on exit.
    assert {m.scale for m in lora_layers(adapted)} == {2.0}
    np.testing.assert_array_equal(_logits(adapted, tokens), with_adapter)


def test_adapter_disabled_needs_lora_layers(tiny_loaded) -> None:
    base, _ = tiny_loaded
    with pytest.raises(ModelError, match="no LoRA layers"), adapter_disabled(base):
        pass


def _log_softmax(x: np.ndarray) -> np.ndarray:
    top = x.max(-1, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(-1, keepdims=True))


def test_sequence_nll_matches_a_direct_computation(tiny_loaded) -> None:
    model, tokenizer = tiny_loaded
    seqs = _sequences(tokenizer, masks_from=3)
    got = sequence_nll(model, seqs)
    for (tokens, mask), nll in zip(seqs, got, strict=True):
        logp = _log_softmax(_logits(model, tokens[:-1])[0].astype(np.float64))  # (L, V)
        # Position t predicts tokens[t + 1]; only trained targets count.
        terms = [-logp[t, tokens[t + 1]] for t in range(len(tokens) - 1) if mask[t + 1]]
        assert nll.tokens == sum(mask[1:]) == len(terms)
        assert nll.total == pytest.approx(sum(terms), rel=1e-5)


def test_total_nll_weights_by_tokens() -> None:
    total = total_nll([NLL(10.0, 5), NLL(2.0, 1)])
    assert total == NLL(12.0, 6)
    assert total.perplexity == pytest.approx(math.exp(2.0))


def test_sequence_nll_rejects_mismatched_mask(tiny_loaded) -> None:
    model, _ = tiny_loaded
    with pytest.raises(ValueError, match="mask"):
        sequence_nll(model, [([2, 5, 6], [True, True])])
    with pytest.raises(ValueError, match="at least 2 tokens"):
        sequence_nll(model, [([2], [False])])
