"""Questions and reference answers from prepared examples, and the models' answers.

An evaluation question is taken from the prepared example itself, not
re-rendered from the record: the prompt is the example's tokens up to the first
trained token of its last assistant turn, and the reference is that turn's
trained tokens without the end-of-turn token. So the model is asked exactly
what training showed it (system prompt, prompt template, chat template and any
prompt truncation included), and the reference is the text it was trained to
produce. For a multi-turn conversation the earlier turns are the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

START_USER = "<start_of_turn>user\n"
END_OF_TURN = "<end_of_turn>"


@dataclass(frozen=True)
class Item:
    source: str  # file:line of the record
    category: str | None
    prompt: list[int]  # ids up to the answer: what the model is asked with
    reference: str  # the trained answer text
    question: str  # the last user turn's text, for the report


def last_answer_span(mask: Sequence[bool]) -> tuple[int, int]:
    """[start, end) of the last run of trained tokens (the last assistant turn)."""
    end = len(mask)
    while end > 0 and not mask[end - 1]:
        end -= 1
    if end == 0:
        raise ValueError("the example has no trained tokens")
    start = end
    while start > 0 and mask[start - 1]:
        start -= 1
    return start, end


def question_text(decoded_prompt: str) -> str:
    """The last user turn of a decoded Gemma prompt (the whole prompt if none is found)."""
    at = decoded_prompt.rfind(START_USER)
    if at < 0:
        return decoded_prompt.strip()
    text = decoded_prompt[at + len(START_USER) :]
    return text.split(END_OF_TURN, 1)[0].strip()


def make_item(example: Any, tokenizer: Any, stop_ids: set[int]) -> Item:
    """An :class:`Item` from a ``kazft.data.render.Example``."""
    start, end = last_answer_span(example.mask)
    answer = list(example.tokens[start:end])
    while answer and answer[-1] in stop_ids:
        answer.pop()
    prompt = list(example.tokens[:start])
    return Item(
        source=example.source,
        category=example.category,
        prompt=prompt,
        reference=tokenizer.decode(answer, skip_special_tokens=True).strip(),
        question=question_text(tokenizer.decode(prompt, skip_special_tokens=False)),
    )


def generate_answers(
    engine: Any,
    items: Sequence[Item],
    max_tokens: int,
    seed: int | None,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy answers (temperature 0) through kazft.generate's engine, in order."""
    from kazft.generate.engine import Sampling

    sampling = Sampling(max_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=seed)
    out = []
    for i, item in enumerate(items):
        out.append(engine.generate(item.prompt, sampling).text.strip())
        if progress is not None:
            progress(i + 1)
    return out
