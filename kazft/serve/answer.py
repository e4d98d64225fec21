"""From a request body to a scheduled answer: prompt, limits, sampler, events.

The prompt is rendered as training rendered it (:mod:`kazft.generate.prompt`):
the served model's system prompt unless the request gives one, every user turn
through its recipe's template, the tokenizer's chat template, and the same
refusal of control tokens typed as text. Every limit is checked here, before a
request takes a place in the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import mlx.core as mx

from kazft.errors import KazftError
from kazft.serve.api_errors import ApiError
from kazft.serve.registry import Registry, ServedModel
from kazft.serve.scheduler import Event, Job, QueueFull, Scheduler, ShuttingDown, queue_emitter
from kazft.serve.schemas import ChatRequest, CompletionRequest, Message, SamplingParams

log = logging.getLogger("kazft.serve")


@dataclass
class Prepared:
    model: ServedModel
    ids: list[int]
    max_tokens: int
    job: Job | None = None
    queue: asyncio.Queue | None = None


def find_model(registry: Registry, name: str) -> ServedModel:
    model = registry.get(name)
    if model is None:
        served = ", ".join(sorted(registry.models))
        raise ApiError(
            404,
            f"the model {name[:80]!r} is not served here; served models: {served} "
            "(GET /v1/models lists them)",
            param="model",
            code="model_not_found",
        )
    return model


def chat_messages(model: ServedModel, messages: list[Message], limit: int) -> list[dict[str, str]]:
    """OpenAI messages to the messages training would have rendered."""
    from kazft.generate.prompt import conversation, user_message

    if len(messages) > limit:
        raise ApiError(
            400,
            f"{len(messages)} messages; at most {limit} per request (--max-messages)",
            param="messages",
            code="too_many_messages",
        )
    data = model.data
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        text = m.text()
        if m.role in ("system", "developer"):
            if turns:
                raise ApiError(
                    400,
                    f"messages[{i}]: a {m.role} message must come before the conversation",
                    param=f"messages[{i}].role",
                )
            system.append(text)
        elif m.role == "user":
            if not text.strip():
                raise ApiError(400, f"messages[{i}]: empty user message", param=f"messages[{i}]")
            turns.append(user_message(data, text))
        else:
            turns.append({"role": "assistant", "content": text})
    if not turns or turns[-1]["role"] != "user":
        raise ApiError(400, "the last message must be the user's question", param="messages")
    for a, b in zip(turns, turns[1:], strict=False):
        if a["role"] == b["role"]:
            raise ApiError(400, "user and assistant messages must alternate", param="messages")
    if system:
        data = data.model_copy(update={"system_prompt": "\n\n".join(system)})
    return conversation(data, turns)


def encode(registry: Registry, messages: list[dict[str, str]]) -> list[int]:
    from kazft.generate.prompt import prompt_ids

    try:
        _, ids = prompt_ids(registry.engine.tokenizer, messages)
    except KazftError as err:
        raise ApiError(400, str(err), param="messages", code="control_token") from None
    except Exception as err:  # the chat template refused the conversation (jinja)
        raise ApiError(
            400, f"the conversation cannot be rendered: {err}", param="messages"
        ) from None
    return ids


def budget(
    registry: Registry, params: SamplingParams, prompt_len: int, cap: int, default: int
) -> int:
    name, asked = params.asked_max_tokens()
    if asked is not None and not 1 <= asked <= cap:
        raise ApiError(
            400,
            f"{name}={asked}: must be between 1 and {cap} (the server's --max-tokens)",
            param=name,
            code="invalid_value",
        )
    context = registry.engine.context
    if context is not None and prompt_len >= context:
        raise ApiError(
            400,
            f"the prompt is {prompt_len} tokens but the model's context holds {context}; "
            "shorten the conversation",
            param="messages",
            code="context_length_exceeded",
        )
    n = asked if asked is not None else default
    return min(n, context - prompt_len) if context is not None else n


_GREEDY: dict[int | None, Any] = {}


def sampler(params: SamplingParams, limit: int | None) -> Any:
    """Greedy rows share one sampler (one batched argmax); sampled rows carry their own
    seeded key, so a seeded answer does not depend on what else is in the batch."""
    from mlx_lm.sample_utils import apply_top_p

    temp = params.temperature if params.temperature is not None else 0.0
    if temp == 0.0:
        if limit not in _GREEDY:
            _GREEDY[limit] = lambda lp: mx.argmax(lp[..., :limit] if limit else lp, axis=-1)
        return _GREEDY[limit]
    seed = params.seed if params.seed is not None else int.from_bytes(os.urandom(4), "little")
    key = mx.random.key(seed % (2**64))
    top_p = params.top_p if params.top_p is not None else 1.0

    def sample(logprobs: mx.array) -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        lp = logprobs[..., :limit] if limit else logprobs
        if 0.0 < top_p < 1.0:
            lp = apply_top_p(lp, top_p)
        return mx.random.categorical(lp * (1.0 / temp), key=sub)

    return sample


def prepare_chat(registry: Registry, req: ChatRequest, settings: Any) -> Prepared:
    model = find_model(registry, req.model)
    ids = encode(registry, chat_messages(model, req.messages, settings.max_messages))
    n = budget(registry, req, len(ids), settings.max_tokens, settings.default_max_tokens)
    return Prepared(model, ids, n)


def prepare_completion(registry: Registry, req: CompletionRequest, settings: Any) -> Prepared:
    from kazft.generate.prompt import question_messages

    model = find_model(registry, req.model)
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if len(prompts) != 1:
        raise ApiError(400, "give one prompt per request", param="prompt")
    if not prompts[0].strip():
        raise ApiError(400, "the prompt is empty", param="prompt")
    ids = encode(registry, question_messages(model.data, prompts[0]))
    n = budget(registry, req, len(ids), settings.max_tokens, settings.default_max_tokens)
    return Prepared(model, ids, n)


def submit(
    scheduler: Scheduler, registry: Registry, prep: Prepared, params: SamplingParams, settings: Any
) -> Prepared:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    job = Job(
        slot=prep.model.slot,
        ids=prep.ids,
        max_tokens=prep.max_tokens,
        sampler=sampler(params, registry.engine.sample_limit),
        stop=params.stops(),
        deadline=time.monotonic() + settings.request_timeout_s,
        emit=queue_emitter(loop, queue),
    )
    try:
        scheduler.submit(job)
    except ShuttingDown:
        raise ApiError(503, "the server is shutting down", code="shutting_down") from None
    except QueueFull:
        raise ApiError(
            429,
            f"the server is busy ({settings.max_batch} answering, {settings.max_queue} "
            "waiting); retry shortly",
            code="queue_full",
            headers={"Retry-After": str(settings.retry_after_s)},
        ) from None
    prep.job, prep.queue = job, queue
    return prep


async def events(
    scheduler: Scheduler, prep: Prepared, disconnected: Any = None
) -> AsyncIterator[Event]:
    """The job's events; cancels the job if the consumer stops early or the client leaves."""
    assert prep.job is not None and prep.queue is not None
    checked = time.monotonic()
    try:
        while True:
            try:
                event = await asyncio.wait_for(prep.queue.get(), timeout=0.25)
            except asyncio.TimeoutError:
                event = None
            # Tokens may arrive without a pause: look for a gone client on a clock.
            if disconnected is not None and time.monotonic() - checked > 0.25:
                checked = time.monotonic()
                if await disconnected():
                    return
            if event is None:
                continue
            yield event
            if event.kind != "text":
                return
    finally:
        if not prep.job.finished:
            scheduler.cancel(prep.job)
