"""Decoding: stop tokens, context limit, sampling, streaming and measured statistics."""

from __future__ import annotations

from dataclasses import replace

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten

from kazft.errors import ModelError
from kazft.generate.engine import Sampling
from kazft.generate.prompt import prompt_ids, question_messages
from kazft.generate.source import default_data
from kazft.generate.stats import GenStats

from .gen_helpers import QUESTION


def _ids(engine, question: str = QUESTION) -> list[int]:
    return prompt_ids(engine.tokenizer, question_messages(default_data(), question))[1]


def test_stop_tokens_are_end_of_turn_and_eos(engine_for):
    eng = engine_for()
    assert eng.stop_ids == {1, 106}  # <eos> and <end_of_turn>


def test_generation_stops_on_a_stop_token_and_leaves_it_out(engine_for):
    eng = engine_for()
    ids = _ids(eng)
    free = eng.generate(ids, Sampling(max_tokens=8))
    assert free.stats.finish_reason == "length" and len(free.tokens) == 8
    stop_at = free.tokens[3]
    first = free.tokens.index(stop_at)
    saved = eng.stop_ids
    eng.stop_ids = saved | {stop_at}  # as if the model produced <end_of_turn> there
    try:
        stopped = eng.generate(ids, Sampling(max_tokens=8))
    finally:
        eng.stop_ids = saved
    assert stopped.tokens == free.tokens[: first + 1]
    assert stopped.stats.finish_reason == "stop"
    assert stopped.text == eng.tokenizer.decode(free.tokens[:first])


def test_streamed_segments_make_up_the_answer(engine_for):
    eng = engine_for()
    parts: list[str] = []
    gen = eng.generate(_ids(eng), Sampling(max_tokens=12), on_text=parts.append)
    assert "".join(parts) == gen.text
    assert len(parts) > 1  # streamed, not one block at the end


def test_greedy_is_deterministic_and_sampling_follows_the_seed(engine_for):
    eng = engine_for()
    ids = _ids(eng)
    greedy = Sampling(max_tokens=10)
    assert eng.generate(ids, greedy).tokens == eng.generate(ids, greedy).tokens
    hot = Sampling(max_tokens=10, temperature=5.0, top_p=0.99, seed=3)
    a, b = eng.generate(ids, hot).tokens, eng.generate(ids, hot).tokens
    c = eng.generate(ids, replace(hot, seed=4)).tokens
    assert a == b and a != c


def test_prompt_longer_than_the_context_is_one_line_error(engine_for):
    n = len(_ids(engine_for()))
    eng = engine_for(max_context=n - 4)
    with pytest.raises(ModelError) as err:
        eng.generate(_ids(eng), Sampling(max_tokens=4))
    assert str(err.value) == (
        f"the prompt is {n} tokens but the context holds {n - 4} (--max-context); "
        "shorten the question or its input, or raise --max-context"
    )


def test_answer_is_cut_at_the_context(engine_for):
    n = len(_ids(engine_for()))
    eng = engine_for(max_context=n + 6)
    gen = eng.generate(_ids(eng), Sampling(max_tokens=50))
    assert len(gen.tokens) == 6 and gen.stats.finish_reason == "length"


def test_stats_are_measured(engine_for):
    eng = engine_for()
    ids = _ids(eng)
    mx.reset_peak_memory()
    gen = eng.generate(ids, Sampling(max_tokens=9))
    s = gen.stats
    assert (s.prompt_tokens, s.prefilled_tokens, s.generated_tokens) == (len(ids), len(ids), 9)
    assert s.ttft_s > 0 and s.decode_s > 0
    assert s.tokens_per_s == pytest.approx(8 / s.decode_s)
    # The model's weights are live during generation: the peak is at least their size.
    weights = sum(v.nbytes for _, v in tree_flatten(eng.model.parameters()))
    assert s.peak_memory_gb * 1e9 >= weights
    assert s.peak_memory_gb == mx.get_peak_memory() / 1e9


def test_stats_line_format():
    s = GenStats(
        prompt_tokens=41,
        prefilled_tokens=11,
        generated_tokens=52,
        ttft_s=0.123,
        decode_s=51 / 38.5,
        peak_memory_gb=1.234,
        finish_reason="stop",
    )
    assert s.line() == "prompt 41 tok (30 cached), TTFT 0.12 s, 38.5 tok/s (52 tok), peak 1.23 GB"
    one = replace(s, generated_tokens=1, decode_s=0.0, peak_memory_gb=0.0049)
    assert one.line() == "prompt 41 tok (30 cached), TTFT 0.12 s, - tok/s (1 tok), peak 4.9 MB"
    assert one.as_dict()["tokens_per_s"] is None


def test_sampling_keeps_to_ids_the_tokenizer_has(engine_for):
    eng = engine_for()
    assert eng.sample_limit is None  # the tiny model's embedding has no padding rows
    ids = _ids(eng)
    free = eng.generate(ids, Sampling(max_tokens=8)).tokens
    limit = max(free)  # pretend the tokenizer ends below the most likely token
    eng.sample_limit = limit
    try:
        kept = eng.generate(ids, Sampling(max_tokens=8)).tokens
    finally:
        eng.sample_limit = None
    assert max(kept) < limit and kept != free
