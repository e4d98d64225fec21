"""The OpenAI-compatible API through the official openai client, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kazft.notice import header_value

QUESTIONS = [
    "Еңбек шарты деген не?",
    "Талап қоюдың жалпы ескіру мерзімі қанша?",
    "Неке қалай бұзылады?",
    "Салық кодексі не туралы?",
]
ROOT = Path(__file__).resolve().parents[2]


def ask(client: Any, model: str, question: str, max_tokens: int = 24, **kw: Any) -> Any:
    return client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        max_tokens=max_tokens,
        temperature=0,
        **kw,
    )


def test_models_lists_base_and_adapters_with_cards(server: Any) -> None:
    models = {m.id: m for m in server.client().models.list()}
    assert set(models) == {"kazft:tiny", "civil", "labour"}
    base = models["kazft:tiny"]
    assert base.model_extra["kind"] == "base" and base.model_extra["parent"] is None
    for name in ("civil", "labour"):
        extra = models[name].model_extra
        assert extra["parent"] == "kazft:tiny" and extra["kind"] == "adapter"
        assert extra["risk_class"] == "medium"
        assert "lawyer" in extra["intended_use"]
        assert extra["adapter_bytes"] > 0
    one = server.client().models.retrieve("civil")
    assert one.id == "civil"


def test_chat_non_streaming_parses_with_usage_and_notice(server: Any) -> None:
    raw = server.client().chat.completions.with_raw_response.create(
        model="civil", messages=[{"role": "user", "content": QUESTIONS[0]}], max_tokens=12
    )
    assert raw.headers["x-ai-notice"] == header_value()
    reply = raw.parse()
    choice = reply.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert choice.message.role == "assistant" and choice.message.content
    assert reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.model_extra["ai_notice"] == header_value()
    # The notice is beside the answer, never inside the model's text.
    assert header_value() not in choice.message.content


def test_chat_streaming_equals_non_streaming(server: Any) -> None:
    client = server.client()
    full = ask(client, "labour", QUESTIONS[1])
    stream = client.chat.completions.create(
        model="labour",
        messages=[{"role": "user", "content": QUESTIONS[1]}],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text == full.choices[0].message.content
    assert finish == full.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == full.usage.completion_tokens
    # Without include_usage no usage chunk comes.
    plain = client.chat.completions.create(
        model="labour", messages=[{"role": "user", "content": "x"}], max_tokens=3, stream=True
    )
    assert all(chunk.usage is None for chunk in plain)


def test_completions_streaming_and_not(server: Any) -> None:
    client = server.client()
    chat = ask(client, "civil", QUESTIONS[2])
    comp = client.completions.create(model="civil", prompt=QUESTIONS[2], max_tokens=24)
    # /v1/completions asks the prompt as one question, as chat does.
    assert comp.choices[0].text == chat.choices[0].message.content
    assert comp.usage.prompt_tokens == chat.usage.prompt_tokens
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model="civil", prompt=QUESTIONS[2], max_tokens=24, stream=True
        )
        if c.choices
    )
    assert streamed == comp.choices[0].text


def test_adapters_answer_differently_and_base_is_plain(server: Any) -> None:
    client = server.client()
    answers = {
        m: ask(client, m, QUESTIONS[0]).choices[0].message.content
        for m in ("kazft:tiny", "civil", "labour")
    }
    assert len(set(answers.values())) == 3


def _generate(serve_runs: dict[str, Path], adapter: str, question: str, tokens: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kazft",
            "generate",
            "--adapter",
            str(serve_runs[adapter]),
            "--max-tokens",
            str(tokens),
            "--json",
            question,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return str(json.loads(out.stdout)["generated"])


@pytest.mark.parametrize("adapter", ["civil", "labour"])
def test_greedy_answer_equals_kazft_generate(server: Any, serve_runs: dict, adapter: str) -> None:
    expected = _generate(serve_runs, adapter, QUESTIONS[0], 40)
    got = ask(server.client(), adapter, QUESTIONS[0], max_tokens=40)
    assert got.choices[0].message.content == expected


def test_eight_concurrent_across_two_adapters_equal_solo(server: Any) -> None:
    client = server.client()
    jobs = [(m, q) for m in ("civil", "labour") for q in QUESTIONS]
    jobs += [("kazft:tiny", q) for q in QUESTIONS[:2]]  # base rows in mixed batches too
    # Different lengths, so rows finish at different steps and others join mid-batch.
    sizes = {job: 16 + 6 * i for i, job in enumerate(jobs)}
    solo = {
        job: ask(client, *job, max_tokens=sizes[job]).choices[0].message.content for job in jobs
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        together = dict(
            zip(
                jobs,
                pool.map(
                    lambda job: ask(client, *job, max_tokens=sizes[job]).choices[0].message.content,
                    jobs,
                ),
                strict=True,
            )
        )
    assert together == solo


def test_stop_sequence_cuts_the_answer(server: Any) -> None:
    client = server.client()
    full = ask(client, "civil", QUESTIONS[3], max_tokens=30).choices[0].message.content
    stop = full[10:13]
    assert stop.strip(), full
    cut = ask(client, "civil", QUESTIONS[3], max_tokens=30, stop=[stop])
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == full[: full.index(stop)]


def test_seeded_sampling_repeats(server: Any) -> None:
    client = server.client()
    kw: dict = {"temperature": 0.9, "top_p": 0.95, "seed": 11, "max_tokens": 20}
    msgs = [{"role": "user", "content": QUESTIONS[0]}]
    a = client.chat.completions.create(model="civil", messages=msgs, **kw)
    b = client.chat.completions.create(model="civil", messages=msgs, **kw)
    assert a.choices[0].message.content == b.choices[0].message.content
    c = client.chat.completions.create(model="civil", messages=msgs, **{**kw, "seed": 12})
    assert c.choices[0].message.content != a.choices[0].message.content


def test_system_prompt_from_request_replaces_the_recipes(server: Any) -> None:
    client = server.client()
    own = ask(client, "civil", QUESTIONS[0]).usage.prompt_tokens
    other = client.chat.completions.create(
        model="civil",
        messages=[
            {"role": "system", "content": "Қысқа жауап бер."},
            {"role": "user", "content": QUESTIONS[0]},
        ],
        max_tokens=4,
    )
    assert other.usage.prompt_tokens != own
    assert other.usage.prompt_tokens_details.cached_tokens == 0  # not the recipe's prefix
    assert ask(client, "civil", QUESTIONS[0]).usage.prompt_tokens_details.cached_tokens > 0


def test_multi_turn_conversation(server: Any) -> None:
    client = server.client()
    reply = client.chat.completions.create(
        model="labour",
        messages=[
            {"role": "user", "content": QUESTIONS[0]},
            {"role": "assistant", "content": "Бұл келісім."},
            {"role": "user", "content": [{"type": "text", "text": "Толығырақ?"}]},
        ],
        max_tokens=5,
    )
    assert reply.choices[0].finish_reason in ("stop", "length")
