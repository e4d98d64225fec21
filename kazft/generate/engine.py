"""Load a base model plus adapter and generate from it, streaming.

The decoding loop is mlx-lm's ``generate_step`` (asynchronous: the next token
is computed while Python handles the current one), with its samplers and its
KV caches; this module adds the adapter (merged or cheap side path, see
:mod:`kazft.generate.fast_lora`), the stop tokens (``<end_of_turn>`` and eos),
the context limit and measured statistics.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx

from kazft.artifacts.adapters import AdapterRef
from kazft.errors import ModelError
from kazft.generate.fast_lora import AppliedAdapter, apply_adapter
from kazft.generate.source import ModelSource, same_base
from kazft.generate.stats import GenStats
from kazft.recipe import ModelSection, Quantize

END_OF_TURN = "<end_of_turn>"


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 512
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0  # 1.0: off
    seed: int | None = 0


@dataclass(frozen=True)
class Generation:
    text: str  # the answer, without the stop token
    tokens: list[int]  # every sampled token, the stop token included (all are in the cache)
    stats: GenStats


def _model_max_positions(config: dict[str, Any]) -> int | None:
    for section in (config.get("text_config") or {}, config):
        value = section.get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return None


def _vocab_rows(config: dict[str, Any]) -> int:
    for section in (config, config.get("text_config") or {}):
        value = section.get("vocab_size")
        if isinstance(value, int) and value > 0:
            return value
    return 0


def load_base(base: str, revision: str | None, quantize: Quantize | None) -> tuple:
    """(model, tokenizer, source folder, config): the base exactly as training loaded it.

    A quantised recipe trained on the trainer's cached quantised copy
    (kazft.model.quantize.prepare_base); the same cache entry is opened here (and
    created on first use, deterministically, if this machine has none). A model
    folder that is already quantised is used as it is.
    """
    from mlx_lm.utils import load_model, load_tokenizer

    from kazft.model.load import read_config, resolve_model
    from kazft.model.quantize import existing_quantization, prepare_base

    source = resolve_model(base, revision)
    folder = source
    if quantize is not None and existing_quantization(read_config(source)) is None:
        section = ModelSection(base=base, revision=revision, quantize=quantize)
        folder = prepare_base(
            section, log=lambda msg: print(f"kazft: {msg}", file=sys.stderr)
        ).folder
    try:
        model, config = load_model(folder)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise ModelError(f"{folder}: could not load the model ({err})") from None
    mx.eval(model.parameters())
    tokenizer = load_tokenizer(folder, eos_token_ids=config.get("eos_token_id"))
    return model, tokenizer, source, config


class Engine:
    """A loaded model (+ adapter) that answers prompts given as token ids."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        folder: Path,
        config: dict[str, Any],
        source: ModelSource | None = None,
        applied: AppliedAdapter | None = None,
        max_context: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.folder = folder
        self.config = config
        self.source = source
        self.applied = applied
        model_max = _model_max_positions(config)
        limits = [n for n in (model_max, max_context) if n is not None]
        self.context = min(limits) if limits else None
        self.context_from = (
            "--max-context"
            if max_context is not None and self.context == max_context
            else "the model's max_position_embeddings"
        )
        # The embedding may have padding rows past the tokenizer (Gemma 3: 262,208 rows,
        # 262,144 tokens): ids no tokenizer can decode. Sampling then keeps to real tokens.
        n_tokens = len(tokenizer)
        self.sample_limit: int | None = n_tokens if n_tokens < _vocab_rows(config) else None
        self.stop_ids: set[int] = set(tokenizer.eos_token_ids or ())
        eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
        if isinstance(eot, int) and eot != getattr(tokenizer, "unk_token_id", None):
            self.stop_ids.add(eot)

    def new_cache(self) -> list[Any]:
        from mlx_lm.models.cache import make_prompt_cache

        return make_prompt_cache(self.model)

    def check_fits(
        self, prompt_tokens: int, hint: str = "shorten the question or its input"
    ) -> None:
        if self.context is not None and prompt_tokens >= self.context:
            raise ModelError(
                f"the prompt is {prompt_tokens} tokens but the context holds "
                f"{self.context} ({self.context_from}); {hint}, or raise --max-context"
            )

    def generate(
        self,
        new_ids: list[int],
        sampling: Sampling,
        cache: list[Any] | None = None,
        prompt_tokens: int | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        """Prefill ``new_ids`` on top of ``cache`` (fresh if None) and decode.

        ``prompt_tokens`` is the whole prompt's length (cache + new_ids), for
        the context check and the stats. On return the cache holds the prompt
        and every sampled token, the stop token included: mlx-lm's
        ``generate_step`` feeds a token to the model before yielding it.
        """
        from mlx_lm.generate import generate_step, generation_stream, wired_limit
        from mlx_lm.sample_utils import make_sampler

        if not new_ids:
            raise ValueError("generate needs at least one new prompt token")
        total = len(new_ids) if prompt_tokens is None else prompt_tokens
        self.check_fits(total)
        max_new = sampling.max_tokens
        if self.context is not None:
            max_new = min(max_new, self.context - total)
        if cache is None:
            cache = self.new_cache()
        if sampling.seed is not None:
            mx.random.seed(sampling.seed)
        top_p = sampling.top_p if 0.0 < sampling.top_p < 1.0 else 0.0
        sampler = make_sampler(sampling.temperature, top_p)
        if self.sample_limit is not None:
            full, limit = sampler, self.sample_limit
            sampler = lambda logprobs: full(logprobs[..., :limit])  # noqa: E731
        detok = self.tokenizer.detokenizer
        detok.reset()

        tokens: list[int] = []
        finish = "length"
        mx.reset_peak_memory()
        t0 = time.perf_counter()
        t_first = t_last = t0
        with wired_limit(self.model, [generation_stream]):  # type: ignore[list-item]
            steps = generate_step(
                mx.array(new_ids),
                self.model,
                max_tokens=max_new,
                sampler=sampler,
                prompt_cache=cache,
            )
            for step_token, _ in steps:
                token = int(step_token)  # generate_step yields plain ints (.item())
                t_last = time.perf_counter()
                if not tokens:
                    t_first = t_last
                tokens.append(token)
                if token in self.stop_ids:
                    finish = "stop"
                    break
                detok.add_token(token)
                if on_text is not None:
                    segment = detok.last_segment  # reading it consumes it
                    if segment:
                        on_text(segment)
            steps.close()
        detok.finalize()
        segment = detok.last_segment
        if on_text is not None and segment:
            on_text(segment)
        answer = tokens[:-1] if finish == "stop" else tokens
        stats = GenStats(
            prompt_tokens=total,
            prefilled_tokens=len(new_ids),
            generated_tokens=len(tokens),
            ttft_s=t_first - t0,
            decode_s=t_last - t_first,
            peak_memory_gb=mx.get_peak_memory() / 1e9,
            finish_reason=finish,
        )
        return Generation(text=self.tokenizer.decode(answer), tokens=tokens, stats=stats)


def load_engine(
    source: ModelSource, max_context: int | None = None, allow_other_base: bool = False
) -> Engine:
    """Load ``source``'s base, check and apply its adapter."""
    from kazft.model.load import resolve_model

    ref = source.adapter
    if ref is not None:  # before reading any weights
        check_adapter_base(
            ref, source, resolve_model(source.base, source.revision), allow_other_base
        )
    model, tokenizer, folder, config = load_base(source.base, source.revision, source.quantize)
    applied = None
    if ref is not None:
        applied = apply_adapter(model, ref)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ModelError(
            f"{folder}: the tokenizer has no chat template; kazft asks questions "
            "in the chat format the model was trained with"
        )
    return Engine(
        model, tokenizer, folder, config, source=source, applied=applied, max_context=max_context
    )


def check_adapter_base(
    ref: AdapterRef, source: ModelSource, folder: Path, allow_other_base: bool
) -> None:
    """Refuse an adapter trained on another base (shapes are checked when applying)."""
    if ref.kind == "bundle" and ref.source is not None:
        from kazft.artifacts.manifest import verify_bundle

        verify_bundle(ref.source, base_folder=folder)  # fingerprint check: raises ModelError
        return
    trained_on = ref.base_model
    if trained_on is None or not source.base_explicit or allow_other_base:
        return
    if not same_base(trained_on, source.base, folder):
        raise ModelError(
            f"adapter {ref.source or ref.folder} was trained on {trained_on!r} (adapter_config.json "
            f"base_model) but the model is {source.base!r}; use --model {trained_on}, or add "
            "--allow-other-base if this is the same model stored elsewhere"
        )
