"""Multi-turn chat: history kept in the chat template, the KV cache kept across turns.

Each turn renders the whole conversation with the tokenizer's chat template
(the system prompt, every user turn through the recipe's prompt template,
every answer) and runs through the model only what the KV cache does not
already hold:

1. The cache holds the previous prompt plus every token the model sampled for
   its answer, ``<end_of_turn>`` included. Its text (``decode(cache_ids)``) is
   normally a prefix of the newly rendered conversation; then only the text
   after it is tokenized and prefilled. The answer stays in the cache as the
   model's own tokens, which decode to exactly the text the template renders
   (checked, not assumed).
2. Otherwise (``/system`` changed the first turn, an answer with surrounding
   spaces that the template trims, a turn stopped at max tokens mid-word), the
   cache is trimmed to the longest common token prefix when every layer's cache
   allows it, or the conversation is prefilled again from scratch. The
   ``prefill`` counter on each turn's stats says which happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.artifacts.atomic import atomic_write
from kazft.data.render import Messages
from kazft.errors import KazftError
from kazft.generate.engine import Engine, Generation, Sampling
from kazft.generate.prompt import conversation, encode, render, user_message
from kazft.recipe import DataSection


@dataclass
class ChatSession:
    engine: Engine
    data: DataSection  # system prompt + prompt template
    sampling: Sampling
    turns: Messages = field(default_factory=list)  # user/assistant turns, no system message
    cache: list[Any] | None = None
    cache_ids: list[int] = field(default_factory=list)  # ids whose K/V the cache holds
    last_prompt: str = ""  # the rendered conversation the last answer was generated from
    last_prompt_ids: list[int] = field(default_factory=list)  # the ids the model read for it
    last_reuse: str = ""  # "extend", "trim" or "full": how the last prompt reached the cache

    @property
    def system_prompt(self) -> str | None:
        return self.data.system_prompt

    def messages(self) -> Messages:
        return conversation(self.data, self.turns)

    def reset(self) -> None:
        self.turns = []
        self.cache, self.cache_ids = None, []

    def set_system(self, text: str | None) -> None:
        """Change the system prompt; the history stays (the next turn re-reads it)."""
        self.data = self.data.model_copy(update={"system_prompt": text or None})

    def ask(self, text: str, on_text: Callable[[str], None] | None = None) -> Generation:
        from kazft.generate.prompt import control_token_in

        if not text.strip():
            raise KazftError("empty message")
        bad = control_token_in(self.engine.tokenizer, text)
        if bad:
            raise KazftError(
                f"the message contains the control token {bad}, which would break "
                "the chat format; remove it"
            )
        tok = self.engine.tokenizer
        turns = [*self.turns, user_message(self.data, text)]
        full_text = render(tok, conversation(self.data, turns), add_generation_prompt=True)
        ids, new_from = self._plan(full_text)
        self.engine.check_fits(len(ids), hint="start a fresh conversation with /reset")
        if self.cache is None:
            self.cache = self.engine.new_cache()
        try:
            gen = self.engine.generate(
                ids[new_from:],
                self.sampling,
                cache=self.cache,
                prompt_tokens=len(ids),
                on_text=on_text,
            )
        except BaseException:
            # Interrupted mid-step: the cache may hold a partial update.
            self.cache, self.cache_ids = None, []
            raise
        self.cache_ids = ids + gen.tokens
        self.turns = [*turns, {"role": "assistant", "content": gen.text}]
        self.last_prompt, self.last_prompt_ids = full_text, ids
        return gen

    def _plan(self, full_text: str) -> tuple[list[int], int]:
        """(prompt ids, index of the first id the cache lacks), trimming the cache if needed."""
        tok = self.engine.tokenizer
        if self.cache is not None and self.cache_ids:
            held = tok.decode(self.cache_ids)
            rest = full_text[len(held) :]
            if full_text.startswith(held) and rest and self._clean_boundary(rest):
                self.last_reuse = "extend"
                return self.cache_ids + encode(tok, rest), len(self.cache_ids)
        ids = encode(tok, full_text)
        if self.cache is not None and self.cache_ids:
            from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

            common = 0
            for a, b in zip(self.cache_ids, ids, strict=False):
                if a != b:
                    break
                common += 1
            common = min(common, len(ids) - 1)  # at least one id must be prefilled
            if common > 0 and can_trim_prompt_cache(self.cache):
                trim_prompt_cache(self.cache, len(self.cache_ids) - common)
                self.last_reuse = "trim"
                return ids, common
        # Re-prefill: the template re-rendered the history differently from what
        # the cache holds and the cache cannot be cut back to the common prefix.
        self.cache, self.last_reuse = None, "full"
        return ids, 0

    def _clean_boundary(self, rest: str) -> bool:
        """Tokenizing ``rest`` alone gives the ids it gets in the whole text.

        True when the cached text ends in a special token (``<end_of_turn>``)
        or ``rest`` starts with one: tokenization never merges across those."""
        tok = self.engine.tokenizer
        last = self.cache_ids[-1]
        specials = set(getattr(tok, "all_special_ids", ()) or ()) | self.engine.stop_ids
        if last in specials:
            return True
        first = encode(tok, rest)[:1]
        return bool(first) and first[0] in specials

    def save(self, path: str | Path) -> Path:
        """The conversation as one JSON line ({"messages": [...]}), written atomically."""
        out = Path(path).expanduser()
        line = json.dumps({"messages": self.messages()}, ensure_ascii=False) + "\n"
        atomic_write(out, line)
        return out
