"""max_seq_length: cut the prompt side (never the target), or drop; exclusions are counted."""

from __future__ import annotations

import pytest

from kazft.data.pipeline import prepare
from kazft.errors import DataError

from .data_helpers import enc

LONG = " ".join(f"Бап {i} бойынша еңбек шарты жасалады." for i in range(12))
SYSTEM = "Көмекшісіз."


def _run(recipe, tok, path, **data):
    return prepare(
        recipe({"train": str(path), "split": {"valid": 0.0}, "system_prompt": SYSTEM, **data}), tok
    )


def _trained(ex):
    return [t for t, m in zip(ex.tokens, ex.mask, strict=True) if m]


def test_prompt_truncation_keeps_markers_system_and_target(recipe, tok, write):
    p = write(
        [{"instruction": LONG, "output": "Жауап бар."}, {"instruction": "Қысқа?", "output": "Иә."}]
    )
    full = _run(recipe, tok, p, max_seq_length=4096)
    n_full = len(full.train[0].tokens)
    cut = _run(recipe, tok, p, max_seq_length=48)
    ex, short = cut.train
    assert n_full > 48 >= len(ex.tokens) >= 40
    assert _trained(ex) == _trained(full.train[0]) == [*enc(tok, "Жауап бар."), 106]
    assert (short.tokens, short.mask) == (full.train[1].tokens, full.train[1].mask)
    head = [2, 105, *enc(tok, "user\n"), *enc(tok, SYSTEM + "\n\n")]
    assert ex.tokens[: len(head)] == head  # <bos>, the turn marker and the system prompt survive
    text = tok.decode(ex.tokens)
    user = text.split(SYSTEM + "\n\n")[1].split("<end_of_turn>")[0]
    assert LONG.endswith(user) and len(user) < len(LONG)  # cut from the start of the user text
    (issue,) = cut.report.issues
    assert (issue.kind, issue.location, issue.reason, issue.split) == (
        "truncated",
        f"{p}:1",
        "prompt_truncated",
        "train",
    )
    assert issue.message.startswith(f"cut {n_full - len(ex.tokens)} tokens (")
    assert cut.report.splits["train"].truncated == 1 and cut.report.splits["train"].max == len(
        ex.tokens
    )


def test_prompt_truncation_cuts_the_end_of_the_input_and_keeps_the_question(recipe, tok, write):
    question = "Еңбек шартын бұзудың салдары қандай?"
    p = write([{"instruction": question, "input": LONG, "output": "Жауап бар."}])
    full = _run(recipe, tok, p, max_seq_length=4096).train[0]
    cut = _run(recipe, tok, p, max_seq_length=64)
    (ex,) = cut.train
    assert len(ex.tokens) <= 64 < len(full.tokens) and _trained(ex) == _trained(full)
    user = tok.decode(ex.tokens).split(SYSTEM + "\n\n")[1].split("<end_of_turn>")[0]
    kept = user.split("\n\n", 1)
    assert kept[0] == question  # the question whole
    assert LONG.startswith(kept[1]) and 0 < len(kept[1]) < len(LONG)  # the input's start kept
    (issue,) = cut.report.issues
    assert issue.reason == "prompt_truncated" and "from the end of the input" in issue.message


def test_an_input_too_short_to_make_room_falls_back_to_cutting_the_start(recipe, tok, write):
    p = write([{"instruction": LONG, "input": "Бап 1.", "output": "Жауап бар."}])
    cut = _run(recipe, tok, p, max_seq_length=48)
    (ex,) = cut.train
    assert len(ex.tokens) <= 48
    user = tok.decode(ex.tokens).split(SYSTEM + "\n\n")[1].split("<end_of_turn>")[0]
    assert user.endswith("\n\nБап 1.") and not user.startswith("Бап 0")
    (issue,) = cut.report.issues
    assert "from the start of the first user turn" in issue.message


def test_multi_turn_truncation_cuts_only_the_first_user_turn(recipe, tok, write):
    turns = [("user", LONG), ("assistant", "Жауап бар."), ("user", "Тағы?"), ("assistant", "Иә.")]
    p = write([{"messages": [{"role": r, "content": c} for r, c in turns]}])
    full = _run(recipe, tok, p, max_seq_length=4096).train[0]
    ex = _run(recipe, tok, p, max_seq_length=64).train[0]
    assert len(ex.tokens) <= 64 < len(full.tokens)
    assert _trained(ex) == _trained(full)
    tail = full.tokens[full.mask.index(True) - 6 :]  # from the first answer's header on
    assert ex.tokens[-len(tail) :] == tail


def test_drop_policy_excludes_and_counts(recipe, tok, write):
    p = write(
        [{"instruction": "Қысқа?", "output": "Иә."}, {"instruction": LONG, "output": "Жауап."}]
    )
    n = len(_run(recipe, tok, p, max_seq_length=4096).train[1].tokens)
    prep = _run(recipe, tok, p, max_seq_length=48, truncation="drop")
    assert [e.source for e in prep.train] == [f"{p}:1"]
    (issue,) = prep.report.issues
    assert (issue.kind, issue.location, issue.reason) == ("excluded", f"{p}:2", "too_long")
    assert issue.message == f"{n} tokens, more than data.max_seq_length 48 (truncation: drop)"
    assert prep.report.count("excluded") == {"too_long": 1}
    assert (prep.report.splits["train"].records, prep.report.splits["train"].examples) == (2, 1)


def test_target_longer_than_the_limit_is_excluded_never_cut(recipe, tok, write):
    p = write(
        [{"instruction": "Қысқа?", "output": "Иә."}, {"instruction": "Сұрақ?", "output": LONG}]
    )
    prep = _run(recipe, tok, p, max_seq_length=48)
    assert [e.source for e in prep.train] == [f"{p}:1"]
    (issue,) = prep.report.issues
    assert (issue.kind, issue.location, issue.reason) == ("excluded", f"{p}:2", "target_too_long")
    assert "even with the first user turn cut to nothing it needs" in issue.message
    need = int(issue.message.split("it needs ")[1].split(" tokens")[0])
    assert need > 48
    assert all(len(e.tokens) <= 48 for e in prep.train)


def test_nothing_left_to_train_is_an_error_not_a_zero_loss(recipe, tok, write):
    p = write([{"instruction": "Сұрақ?", "output": LONG}])
    with pytest.raises(DataError, match=r"no training examples are left .*\(target_too_long 1\)"):
        _run(recipe, tok, p, max_seq_length=32)


def test_every_example_fits_and_has_targets(recipe, tok, write):
    rows = [
        {"instruction": LONG[: 20 * i + 5], "input": LONG[: 7 * i], "output": f"Жауап {i}."}
        for i in range(15)
    ]
    p = write(rows)
    prep = _run(recipe, tok, p, max_seq_length=40)
    assert prep.train and all(len(e.tokens) <= 40 and any(e.mask) for e in prep.train)
    st = prep.report.splits["train"]
    assert st.examples + sum(prep.report.count("excluded").values()) == 15
    assert st.truncated == len([i for i in prep.report.issues if i.kind == "truncated"]) > 0
