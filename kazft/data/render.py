"""Conversations to token ids and a loss mask, through the tokenizer's own chat template.

The mask is derived, not guessed: for every assistant turn the conversation is
rendered up to that turn with the generation prompt (what the model sees when
asked) and through that turn, and both are tokenized. Each must tokenize to a
prefix of the whole conversation's ids (the *prefix property*); then the turn's
trained tokens are the ids between the two prefixes, up to and including the
turn's end token (``<end_of_turn>`` for Gemma). What follows that token (the
``\\n`` Gemma writes after it) and every header (``<start_of_turn>model\\n``) stay
masked. A record where the prefix property fails is refused with its location.

No mlx here: only the tokenizer object (an mlx-lm ``TokenizerWrapper`` or a
transformers tokenizer).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any

from kazft.errors import DataError
from kazft.recipe import DataSection

Messages = list[dict[str, str]]


@dataclass
class Example:
    """One training example: ids of the whole rendered conversation and its mask."""

    tokens: list[int]
    mask: list[bool]  # mask[i] is True iff tokens[i] is a trained target
    source: str  # where the record came from: file:line or dataset:split:row
    category: str | None = None


class RecordProblem(Exception):
    """A record that cannot be used; ``reason`` is a short code used for counting."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# --- the prompt template ------------------------------------------------------------


def _template_without_input(template: str) -> str:
    """The template used when a record's input is empty (see docs/data-format.md).

    Lines holding ``{input}`` but not ``{instruction}`` are removed (with any
    label on them), runs of blank lines left behind collapse to one, and blank
    lines at either end go, so no dangling "Context:" or blank lines remain."""
    kept: list[str] = []
    for line in template.split("\n"):
        if "{input}" in line and "{instruction}" not in line:
            continue
        line = line.replace("{input}", "")
        if not line.strip() and kept and not kept[-1].strip():
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def render_prompt(template: str, instruction: str, input: str = "") -> str:
    """The user turn's text for an instruction/input pair (both stripped first)."""
    instruction, input = instruction.strip(), input.strip()
    if not input:
        template = _template_without_input(template)
    return template.format(instruction=instruction, input=input).strip()


def input_span(template: str, instruction: str, input: str = "") -> tuple[int, int] | None:
    """Where the (stripped) input sits in ``render_prompt``'s text: (start, end)
    characters, or None when there is no input or the template places it more
    than once. Truncation cuts the end of this span first, keeping the question."""
    instruction, input = instruction.strip(), input.strip()
    if not input or template.count("{input}") != 1:
        return None
    raw = template.format(instruction=instruction, input=input)
    lead = len(raw) - len(raw.lstrip())
    start = len(template.split("{input}", 1)[0].format(instruction=instruction)) - lead
    end = start + len(input)
    if start < 0 or raw.strip()[start:end] != input:
        return None
    return start, end


def system_messages(data: DataSection) -> Messages:
    """The recipe's system message, if any (stripped: Gemma's template does not trim it)."""
    if data.system_prompt is not None and data.system_prompt.strip():
        return [{"role": "system", "content": data.system_prompt.strip()}]
    return []


def prompt_messages(data: DataSection, instruction: str, input: str = "") -> Messages:
    """The messages that ask ``instruction`` (with ``input``) exactly as training rendered it."""
    user = render_prompt(data.prompt_template, instruction, input)
    return [*system_messages(data), {"role": "user", "content": user}]


# --- encoding -----------------------------------------------------------------------

# Special tokens usually look like <...> or [...]; anything else is matched literally.
_SHAPED = re.compile(r"<[^<>\n]{1,64}>|\[[^\[\]\n]{1,64}\]")


def hf_tokenizer(tokenizer: Any) -> Any:
    """The transformers tokenizer of an mlx-lm TokenizerWrapper, or the tokenizer itself."""
    from transformers import PreTrainedTokenizerBase

    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return tokenizer
    inner = getattr(tokenizer, "_tokenizer", None)
    if isinstance(inner, PreTrainedTokenizerBase):
        return inner
    raise TypeError(
        f"expected a transformers tokenizer or an mlx-lm TokenizerWrapper, got {tokenizer!r}"
    )


class ControlTokens:
    """The tokenizer's special tokens, which a text must not contain.

    Typed as text they would become real control tokens (a second ``<bos>``, an
    ``<end_of_turn>`` inside an answer, an image placeholder, Gemma's
    ``<unused7>``) and break the turn structure that masking relies on. Derived
    from the tokenizer, so training (:class:`ChatEncoder`) and generation
    (:func:`kazft.generate.prompt.prompt_ids`) refuse exactly the same set."""

    def __init__(self, tokenizer: Any) -> None:
        hf = hf_tokenizer(tokenizer)
        specials = set(hf.all_special_tokens)
        specials |= {t.content for t in hf.added_tokens_decoder.values() if t.special}
        self.specials = frozenset(s for s in specials if s)
        others = sorted((s for s in self.specials if not _SHAPED.fullmatch(s)), key=len)
        self._literal = (
            re.compile("|".join(re.escape(s) for s in reversed(others))) if others else None
        )

    def find(self, text: str) -> str | None:
        """The first control token in ``text``, or None."""
        for m in _SHAPED.finditer(text):
            if m.group(0) in self.specials:
                return m.group(0)
        if self._literal is not None:
            m2 = self._literal.search(text)
            if m2:
                return m2.group(0)
        return None


# Built once per tokenizer (Gemma 3 has thousands of added tokens to scan).
_CONTROL: weakref.WeakKeyDictionary[Any, ControlTokens] = weakref.WeakKeyDictionary()


def control_tokens(tokenizer: Any) -> ControlTokens:
    hf = hf_tokenizer(tokenizer)
    found = _CONTROL.get(hf)
    if found is None:
        found = _CONTROL[hf] = ControlTokens(hf)
    return found


class ChatEncoder:
    """Renders conversations with the tokenizer's chat template and builds loss masks."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.hf = hf_tokenizer(tokenizer)
        if (
            getattr(self.hf, "chat_template", None) is None
            and getattr(tokenizer, "_chat_template", None) is None
        ):
            raise DataError(
                "the tokenizer has no chat template, so conversations cannot be rendered as "
                "the model expects; use an instruction-tuned model such as google/gemma-3-4b-it"
            )
        self.bos_id: int | None = self.hf.bos_token_id
        # The ids that end an assistant turn: generation_config's eos ids (the
        # wrapper's eos_token_ids) or, for a bare tokenizer, eos and <end_of_turn>.
        stop: set[int] = set()
        if tokenizer is not self.hf:  # the wrapper's ids come from generation_config.json
            stop |= set(getattr(tokenizer, "eos_token_ids", None) or ())
        if self.hf.eos_token_id is not None:
            stop.add(self.hf.eos_token_id)
        eot = self.hf.convert_tokens_to_ids("<end_of_turn>")
        if isinstance(eot, int) and eot != self.hf.unk_token_id:
            stop.add(eot)
        self.stop_ids = frozenset(stop)
        self.control = control_tokens(tokenizer)
        self.specials = self.control.specials
        # A wrapper with its own renderer (mlx-lm chat_template_type) renders one at a time.
        self._batched = getattr(tokenizer, "_chat_template", None) is None

    def control_token_in(self, text: str) -> str | None:
        return self.control.find(text)

    def render(self, convs: list[Messages], add_generation_prompt: bool) -> list[str | Exception]:
        """Render conversations to strings; a conversation the template refuses yields its error."""
        if not convs:
            return []
        tok = self.tokenizer
        if self._batched:
            try:
                out = tok.apply_chat_template(
                    convs, tokenize=False, add_generation_prompt=add_generation_prompt
                )
                return list(out)
            except Exception:  # noqa: BLE001 - locate the conversation below
                pass
        results: list[str | Exception] = []
        for conv in convs:
            try:
                results.append(
                    tok.apply_chat_template(
                        conv, tokenize=False, add_generation_prompt=add_generation_prompt
                    )
                )
            except Exception as err:  # noqa: BLE001 - reported against the record
                results.append(err)
        return results

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        # The rendered text already holds <bos>: add no special tokens again.
        fast = getattr(getattr(self.hf, "backend_tokenizer", None), "encode_batch_fast", None)
        if fast is not None:  # the Rust tokenizer without offsets: same ids, less work
            return [e.ids for e in fast(texts, add_special_tokens=False)]
        return list(self.hf(texts, add_special_tokens=False)["input_ids"])

    def encode(self, convs: list[Messages]) -> list[tuple[list[int], list[bool]] | RecordProblem]:
        """Token ids and mask per conversation, or the problem that refuses it.

        Each conversation alternates user/assistant (after an optional system
        message) and ends with an assistant turn: the readers guarantee it."""
        turns = [[i for i, m in enumerate(c) if m["role"] == "assistant"] for c in convs]
        gen_convs = [c[:a] for c, idx in zip(convs, turns, strict=True) for a in idx]
        # Through each assistant turn but the last; the last is the whole conversation.
        thr_convs = [c[: a + 1] for c, idx in zip(convs, turns, strict=True) for a in idx[:-1]]
        thr_convs += convs
        gen_s = self.render(gen_convs, add_generation_prompt=True)
        thr_s = self.render(thr_convs, add_generation_prompt=False)
        ok = [s for s in gen_s + thr_s if isinstance(s, str)]
        ids_iter = iter(self.tokenize(ok))
        gen_ids = [next(ids_iter) if isinstance(s, str) else s for s in gen_s]
        thr_ids = [next(ids_iter) if isinstance(s, str) else s for s in thr_s]
        n_thr = len(thr_convs) - len(convs)
        full_ids = thr_ids[n_thr:]
        out: list[tuple[list[int], list[bool]] | RecordProblem] = []
        g = t = 0
        for ci, idx in enumerate(turns):
            gens = gen_ids[g : g + len(idx)]
            thrs = [*thr_ids[t : t + len(idx) - 1], full_ids[ci]]
            g += len(idx)
            t += len(idx) - 1
            out.append(self._mask(gens, thrs))
        return out

    def _mask(self, gens: list, thrs: list) -> tuple[list[int], list[bool]] | RecordProblem:
        for part in (*gens, *thrs):
            if isinstance(part, Exception):
                return RecordProblem(
                    "template", f"the chat template refused the conversation ({part})"
                )
        full: list[int] = thrs[-1]
        if self.bos_id is not None and (
            not full or full[0] != self.bos_id or full.count(self.bos_id) != 1
        ):
            return RecordProblem(
                "template",
                f"the rendered conversation must hold exactly one <bos>, at the start "
                f"(found {full.count(self.bos_id)})",
            )
        mask = [False] * len(full)
        for k, (gen, thr) in enumerate(zip(gens, thrs, strict=True), start=1):
            for name, prefix in (("the prompt before", gen), ("the conversation through", thr)):
                if full[: len(prefix)] != prefix:
                    return self._prefix_problem(k, name, prefix, full)
            start, end = len(gen), len(thr)
            stops = [i for i in range(start, end) if full[i] in self.stop_ids]
            if end <= start or not stops:
                return RecordProblem(
                    "template",
                    f"assistant turn {k} renders no end-of-turn token, so the model "
                    "could not learn to stop; the tokenizer's chat template does not fit kazft",
                )
            for i in range(start, stops[-1] + 1):
                mask[i] = True
        return full, mask

    def _prefix_problem(
        self, k: int, name: str, prefix: list[int], full: list[int]
    ) -> RecordProblem:
        at = next(
            (i for i, (a, b) in enumerate(zip(prefix, full, strict=False)) if a != b),
            min(len(prefix), len(full)),
        )
        got = self.hf.convert_ids_to_tokens(prefix[at : at + 3])
        want = self.hf.convert_ids_to_tokens(full[at : at + 3])
        return RecordProblem(
            "prefix_property",
            f"{name} assistant turn {k} does not tokenize to a prefix of the whole conversation "
            f"(they differ at token {at}: {got} alone vs {want} in the whole), so the trained "
            "tokens cannot be located; the model would be trained on text it never sees when "
            "asked. Rephrase the start of that answer or the end of the text before it",
        )

    def decode(self, ids: list[int]) -> str:
        return str(self.hf.decode(ids, skip_special_tokens=False))
