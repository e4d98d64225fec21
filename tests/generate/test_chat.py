"""Chat: history in the template across turns, KV cache reuse, the REPL commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mlx.core as mx
import pytest

from kazft.errors import KazftError
from kazft.generate.chat import ChatSession
from kazft.generate.engine import Sampling
from kazft.generate.prompt import conversation, encode, render, user_message
from kazft.generate.repl import Terminal, run_repl
from kazft.generate.source import default_data

S = Sampling(max_tokens=8)
LAW = default_data().model_copy(update={"system_prompt": "Сіз заңгерсіз."})


def test_second_turn_prompt_holds_the_first_exchange(engine_for):
    eng = engine_for()
    s = ChatSession(eng, LAW, S)
    g1 = s.ask("Сәлем")
    first_prompt = s.last_prompt
    g2 = s.ask("Салық деген не?")
    tok = eng.tokenizer
    u1, u2 = user_message(LAW, "Сәлем"), user_message(LAW, "Салық деген не?")
    exchange = [u1, {"role": "assistant", "content": g1.text}]
    assert s.turns == [*exchange, u2, {"role": "assistant", "content": g2.text}]
    assert s.last_prompt == render(tok, conversation(LAW, [*exchange, u2]))
    # The first exchange, rendered by the template, opens the second prompt.
    through_first = render(tok, conversation(LAW, exchange), add_generation_prompt=False)
    assert s.last_prompt.startswith(through_first) and first_prompt in s.last_prompt
    assert "Сіз заңгерсіз.\n\nСәлем<end_of_turn>\n<start_of_turn>model\n" in s.last_prompt
    # What the model read decodes to exactly that text...
    assert tok.decode(s.last_prompt_ids) == s.last_prompt
    # ...and reusing the cache answers as a fresh prefill of it does.
    assert g2.tokens == eng.generate(s.last_prompt_ids, S).tokens


def test_cache_is_reused_not_reprefilled(engine_for):
    eng = engine_for()
    s = ChatSession(eng, default_data(), S)
    s.ask("Сәлем")
    # The first prompt and answer fit the tiny model's 32-token sliding window, so
    # even a cache that must be cut back to the common prefix can be.
    assert len(s.cache_ids) < 32
    g2 = s.ask("Салық деген не?")
    assert s.last_reuse in ("extend", "trim")
    assert g2.stats.prefilled_tokens < g2.stats.prompt_tokens


def test_canonical_history_extends_the_cache_with_only_the_new_turn(engine_for):
    eng = engine_for()
    tok = eng.tokenizer
    s = ChatSession(eng, LAW, S)
    hist = [
        user_message(LAW, "Сәлем"),
        {"role": "assistant", "content": "Сәлеметсіз бе, қалай көмектесейін?"},
    ]
    held = render(tok, conversation(LAW, hist), add_generation_prompt=False).removesuffix("\n")
    ids = encode(tok, held)  # ends with <end_of_turn>, as a finished answer does
    cache = eng.new_cache()
    eng.model(mx.array(ids)[None], cache=cache)
    s.turns, s.cache, s.cache_ids = hist, cache, ids
    g = s.ask("Салық деген не?")
    assert s.last_reuse == "extend"
    assert g.stats.prefilled_tokens == len(s.last_prompt_ids) - len(ids)
    assert s.last_prompt_ids == encode(tok, s.last_prompt)  # the same ids a fresh render gives
    assert g.tokens == eng.generate(s.last_prompt_ids, S).tokens


def test_changed_system_prompt_reprefills(engine_for):
    eng = engine_for()
    s = ChatSession(eng, LAW, S)
    s.ask("Сәлем, маған кеңес керек")
    s.ask("Салық деген не?")
    assert len(s.cache_ids) > 32  # past the sliding window: the cache cannot be cut back
    s.set_system("Сіз салық кеңесшісісіз.")
    g = s.ask("Рақмет")
    assert s.last_reuse == "full" and g.stats.prefilled_tokens == g.stats.prompt_tokens
    assert s.last_prompt.startswith("<bos><start_of_turn>user\nСіз салық кеңесшісісіз.\n\nСәлем")


def test_reset_and_control_tokens(engine_for):
    s = ChatSession(engine_for(), LAW, S)
    s.ask("Сәлем")
    s.reset()
    assert s.turns == [] and s.cache is None
    with pytest.raises(KazftError, match="control token <end_of_turn>"):
        s.ask("a<end_of_turn>b")
    assert s.turns == []


def test_context_overflow_in_chat_says_reset(engine_for):
    s = ChatSession(engine_for(max_context=30), LAW, S)
    with pytest.raises(KazftError, match=r"start a fresh conversation with /reset"):
        s.ask("Сәлем " * 20)


def _repl(engine, lines: str) -> tuple[str, str, ChatSession]:
    out, err = io.StringIO(), io.StringIO()
    s = ChatSession(engine, LAW, S)
    rc = run_repl(s, Terminal(io.StringIO(lines), out, err, interactive=False))
    assert rc == 0
    return out.getvalue(), err.getvalue(), s


def test_repl_commands(engine_for, tmp_path: Path):
    save = tmp_path / "chats" / "c.json"
    out, err, s = _repl(
        engine_for(),
        "Сәлем\n/save " + str(save) + "\n/system\n/system off\n"
        "/system Жаңа\n/bogus\n/reset\nЕкі \\\nжол\n/quit\nnot read\n",
    )
    saved = json.loads(save.read_text(encoding="utf-8"))
    assert saved["messages"][0] == {"role": "system", "content": "Сіз заңгерсіз."}
    assert [m["role"] for m in saved["messages"]] == ["system", "user", "assistant"]
    assert "(saved 2 turns to" in err
    assert "system prompt: 'Сіз заңгерсіз.'" in err and "(system prompt removed)" in err
    assert "unknown command /bogus" in err and "(conversation cleared)" in err
    assert s.system_prompt == "Жаңа"
    assert s.turns[0] == {"role": "user", "content": "Екі \nжол"}  # backslash continues
    # The two answers, streamed, each ended by a newline.
    assert out == saved["messages"][2]["content"] + "\n" + s.turns[1]["content"] + "\n"
    assert err.count("[prompt ") == 2  # a stats line per answer


def test_repl_reports_errors_and_goes_on(engine_for):
    out, err, s = _repl(engine_for(), "<bos>\nСәлем\n")
    assert "kazft: error: the message contains the control token <bos>" in err
    assert len(s.turns) == 2


def test_ctrl_d_ends_the_prompt_line(monkeypatch: pytest.MonkeyPatch):
    """The shell's prompt must not start after "you> " on the same line."""
    from kazft.generate.repl import Terminal

    def eof(prompt: str) -> str:
        out.write(prompt)
        raise EOFError

    out = io.StringIO()
    monkeypatch.setattr("builtins.input", eof)
    term = Terminal(io.StringIO(), out, io.StringIO(), interactive=True)
    assert term.read("you> ") is None
    assert out.getvalue() == "you> \n"
