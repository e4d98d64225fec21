"""Rendering and masking: token by token, single and multi-turn, through Gemma 3's template."""

from __future__ import annotations

import pytest

from kazft.data.pipeline import prepare
from kazft.data.render import ChatEncoder, Example, input_span, prompt_messages, render_prompt
from kazft.errors import DataError
from kazft.recipe import DataSection

from .data_helpers import enc, qa

BOS, SOT, EOT = 2, 105, 106  # the tiny tokenizer keeps Gemma 3's ids


def _turn(tok, role: str, text: str, trained: bool) -> tuple[list[int], list[bool]]:
    """One rendered turn: <start_of_turn>role\\n text <end_of_turn>\\n, and its mask."""
    head = [SOT, *enc(tok, f"{role}\n")]
    body = [*enc(tok, text), EOT]
    tail = enc(tok, "\n")
    return head + body + tail, [False] * len(head) + [trained] * len(body) + [False] * len(tail)


def _expected(tok, turns: list[tuple[str, str]]) -> tuple[list[int], list[bool]]:
    tokens, mask = [BOS], [False]
    for role, text in turns:
        t, m = _turn(tok, role, text, trained=role == "model")
        tokens += t
        mask += m
    return tokens, mask


def _prepare(recipe, tok, write, rows, **data):
    p = write(rows)
    return prepare(recipe({"train": str(p), "split": {"valid": 0.0}, **data}), tok), p


def test_prompt_template_rule():
    t = "{instruction}\n\n{input}"
    assert render_prompt(t, "  Сұрақ? ", "Мәтін\n") == "Сұрақ?\n\nМәтін"
    assert render_prompt(t, "Сұрақ?", "") == "Сұрақ?"
    labelled = "Сұрақ: {instruction}\n\nМәтін: {input}\n\nҚысқа жауап беріңіз."
    assert render_prompt(labelled, "Q", "C") == "Сұрақ: Q\n\nМәтін: C\n\nҚысқа жауап беріңіз."
    assert render_prompt(labelled, "Q", "  ") == "Сұрақ: Q\n\nҚысқа жауап беріңіз."
    assert render_prompt("{input}\n---\n{instruction}", "Q", "") == "---\nQ"
    assert render_prompt("{instruction} {input}", "Q", "") == "Q"
    # braces in the data are text, not placeholders
    assert render_prompt(t, "{input}", "{x}") == "{input}\n\n{x}"


def test_prompt_messages_match_what_training_renders():
    data = DataSection(train="x", system_prompt="  Көмекшісіз.\n")
    assert prompt_messages(data, "Сұрақ", "Мәтін") == [
        {"role": "system", "content": "Көмекшісіз."},
        {"role": "user", "content": "Сұрақ\n\nМәтін"},
    ]
    assert prompt_messages(DataSection(train="x"), "Сұрақ") == [
        {"role": "user", "content": "Сұрақ"}
    ]


def test_single_turn_mask_token_by_token(recipe, tok, write):
    prep, p = _prepare(recipe, tok, write, [{"instruction": "Сұрақ?", "output": "Жауап бар."}])
    (ex,) = prep.train
    tokens, mask = _expected(tok, [("user", "Сұрақ?"), ("model", "Жауап бар.")])
    assert ex == Example(tokens, mask, f"{p}:1", None)
    trained = [i for i, m in enumerate(ex.mask) if m]
    assert [ex.tokens[i] for i in trained] == [*enc(tok, "Жауап бар."), EOT]
    assert ex.tokens[trained[-1] + 1 :] == enc(tok, "\n")  # the \n after <end_of_turn>: masked


def test_multi_turn_chat_trains_every_assistant_turn(recipe, tok, write):
    chat = {
        "messages": [
            {"role": "system", "content": "Көмекшісіз."},
            {"role": "user", "content": "Сұрақ?"},
            {"role": "assistant", "content": "Жауап бар."},
            {"role": "user", "content": "Тағы?"},
            {"role": "assistant", "content": "Иә."},
        ],
        "category": "еңбек",
    }
    prep, p = _prepare(recipe, tok, write, [chat], system_prompt="unused: the record has its own")
    (ex,) = prep.train
    # Gemma's template merges the system message into the first user turn.
    tokens, mask = _expected(
        tok,
        [
            ("user", "Көмекшісіз.\n\nСұрақ?"),
            ("model", "Жауап бар."),
            ("user", "Тағы?"),
            ("model", "Иә."),
        ],
    )
    assert (ex.tokens, ex.mask, ex.category) == (tokens, mask, "еңбек")
    runs, cur = [], []
    for t, m in zip(ex.tokens, ex.mask, strict=True):
        if m:
            cur.append(t)
        elif cur:
            runs.append(cur)
            cur = []
    assert runs == [[*enc(tok, "Жауап бар."), EOT], [*enc(tok, "Иә."), EOT]]
    assert prep.report.notes == [
        "data.system_prompt is not used: every chat record has its own system message",
        "data.prompt_template is not used: no record is in the alpaca format",
    ]


def test_recipe_system_prompt_and_completion_format(recipe, tok, write):
    rows = [{"prompt": "Сұрақ?", "completion": "Иә."}]
    prep, _ = _prepare(recipe, tok, write, rows, system_prompt="Көмекшісіз.")
    tokens, mask = _expected(tok, [("user", "Көмекшісіз.\n\nСұрақ?"), ("model", "Иә.")])
    assert (prep.train[0].tokens, prep.train[0].mask) == (tokens, mask)


def test_content_is_trimmed_by_gemmas_template(recipe, tok, write):
    prep, _ = _prepare(recipe, tok, write, [{"instruction": "\n Сұрақ? ", "output": "  Иә.\n\n"}])
    tokens, mask = _expected(tok, [("user", "Сұрақ?"), ("model", "Иә.")])
    assert (prep.train[0].tokens, prep.train[0].mask) == (tokens, mask)


def test_trained_part_starts_where_inference_prompt_ends(recipe, tok, write):
    data = {
        "system_prompt": "Көмекшісіз.",
        "prompt_template": "Сұрақ: {instruction}\n\nМәтін: {input}",
    }
    prep, _ = _prepare(recipe, tok, write, [qa(1, input="Заң"), qa(2)], **data)
    section = recipe({"train": "x", **data}).data
    for ex, (q, inp) in zip(prep.train, [("Сұрақ 1?", "Заң"), ("Сұрақ 2?", "")], strict=True):
        asked = tok.apply_chat_template(
            prompt_messages(section, q, inp), add_generation_prompt=True
        )
        first = ex.mask.index(True)
        assert ex.tokens[:first] == list(asked)


def test_bare_transformers_tokenizer_gives_the_same_examples(recipe, tok, write, tiny_dir):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tiny_dir)
    p = write(
        [
            qa(1),
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        ]
    )
    r = recipe({"train": str(p), "split": {"valid": 0.0}, "on_bad_record": "skip"})
    a, b = prepare(r, tok), prepare(r, bare)
    assert [(e.tokens, e.mask) for e in a.train] == [(e.tokens, e.mask) for e in b.train]
    assert ChatEncoder(bare).stop_ids == ChatEncoder(tok).stop_ids == {1, EOT}


def test_prefix_property_failure_is_refused_with_location(recipe, tok, write, tiny_dir):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tiny_dir)
    # A template whose generation prompt says "model" but whose turns say "assistant".
    bare.chat_template = bare.chat_template.replace('set role = "model"', 'set role = "assistant"')
    p = write([qa(1), qa(2)])
    with pytest.raises(DataError) as exc:
        prepare(recipe({"train": str(p), "split": {"valid": 0.0}}), bare)
    msg = str(exc.value)
    at = len([BOS, SOT, *enc(tok, "user\n"), *enc(tok, "Сұрақ 1?"), EOT, *enc(tok, "\n"), SOT])
    assert msg.startswith(
        f"{p}:1: the prompt before assistant turn 1 does not tokenize to a prefix of the whole "
        f"conversation (they differ at token {at}: ['<0x6D>', '<0x6F>', '<0x64>'] alone vs "
        "['<0x61>', '<0x73>', '<0x73>'] in the whole)"
    )
    assert f"(1 more bad record(s): {p}:2)" in msg
    skipped = prepare(
        recipe({"train": str(p), "split": {"valid": 0.0}, "on_bad_record": "skip"}), tok
    )
    assert len(skipped.train) == 2  # the real template passes


@pytest.mark.parametrize("text", ["<end_of_turn>", "<bos>", "<start_of_image>", "<unused7>"])
def test_control_tokens_typed_as_text_are_refused(recipe, tok, write, text):
    p = write([qa(1), {"instruction": "q", "output": f"a {text} b"}])
    with pytest.raises(DataError) as exc:
        prepare(recipe({"train": str(p)}), tok)
    assert str(exc.value).startswith(
        f"{p}:2: the text holds {text!r}, one of the tokenizer's control tokens"
    )
    assert ChatEncoder(tok).control_token_in("<b>html</b> [x] <unused>") is None


def test_control_token_in_recipe_text_is_a_recipe_problem(recipe, tok, write):
    p = write([qa(1)])
    with pytest.raises(DataError, match=r"^data.system_prompt holds '<start_of_turn>'"):
        prepare(recipe({"train": str(p), "system_prompt": "<start_of_turn>x"}), tok)


def test_tokenizer_without_chat_template(tiny_dir):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tiny_dir)
    bare.chat_template = None
    with pytest.raises(DataError, match="the tokenizer has no chat template"):
        ChatEncoder(bare)


@pytest.mark.parametrize(
    "template",
    [
        "{instruction}\n\n{input}",
        "{input}\n\n{instruction}",
        "  Сұрақ: {instruction}\n\nМәтін: {input}\n\nҚысқа жауап беріңіз.",
    ],
)
def test_input_span_finds_the_input_in_the_rendered_prompt(template):
    user = render_prompt(template, " Сұрақ? ", "Бап 1.\nБап 2. ")
    a, b = input_span(template, " Сұрақ? ", "Бап 1.\nБап 2. ")
    assert user[a:b] == "Бап 1.\nБап 2."


def test_input_span_is_none_without_one_input():
    assert input_span("{instruction}\n\n{input}", "Сұрақ?", "  ") is None
    assert input_span("{instruction}", "Сұрақ?", "Мәтін") is None
    assert input_span("{input} {instruction} {input}", "Сұрақ?", "Мәтін") is None


def test_input_span_follows_crlf_normalisation():
    from kazft.data.records import parse_record

    data = DataSection(train="x.jsonl")
    rec = parse_record(
        {"instruction": "Бірінші\r\nжол?", "input": "Бап 1.\r\nБап 2.", "output": "Иә."},
        "x.jsonl:1",
        data,
        None,
    )
    user = next(m["content"] for m in rec.messages if m["role"] == "user")
    assert rec.crlf and rec.input_span is not None
    assert user[rec.input_span[0] : rec.input_span[1]] == "Бап 1.\nБап 2."
