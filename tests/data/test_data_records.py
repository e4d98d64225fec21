"""Readers: every bad-input case names file:line and what is wrong; Windows files read fine."""

from __future__ import annotations

import pytest

from kazft.data.pipeline import prepare
from kazft.errors import DataError

from .data_helpers import qa


def _error(recipe, tok, path, **data) -> str:
    with pytest.raises(DataError) as exc:
        prepare(recipe({"train": str(path), **data}), tok)
    return str(exc.value)


def test_malformed_line(write, recipe, tok):
    p = write([qa(1), qa(2), '{"instruction": "x", "output": "y"', qa(4)])
    msg = _error(recipe, tok, p)
    assert msg.startswith(f"{p}:3: not valid JSON (Expecting ',' delimiter at column 35)")
    assert "data.on_bad_record: skip" in msg


def test_invalid_utf8(write, recipe, tok):
    p = write([qa(1), b'{"instruction": "\xd2\x9a\xff", "output": "y"}', qa(3)])
    msg = _error(recipe, tok, p)
    assert msg.startswith(f"{p}:2: not valid UTF-8 (byte 0xFF at byte 20 of the line)")


def test_line_that_is_not_an_object(write, recipe, tok):
    p = write([qa(1), [1, 2], qa(3)])
    assert _error(recipe, tok, p).startswith(f"{p}:2: not a JSON object (got a list)")


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"instruction": "q"}, "field 'output' is missing"),
        ({"instruction": "q", "output": None}, "field 'output' is missing"),
        ({"output": "a"}, "field 'instruction' is missing"),
        (
            {"instruction": 5, "output": "a"},
            "field 'instruction' must be text (a JSON string), got a number (5)",
        ),
        (
            {"instruction": "q", "input": ["x"], "output": "a"},
            "field 'input' must be text (a JSON string), got a list",
        ),
        ({"instruction": "q", "output": "a", "category": 3}, "field 'category' must be text"),
        ({"instruction": "q", "output": "   "}, "field 'output' is empty"),
        ({"instruction": "", "output": "a"}, "field 'instruction' is empty"),
        (
            {"question": "q", "answer": "a"},
            "not a record kazft knows: expected instruction/input/output "
            "(alpaca), messages (chat) or prompt/completion (completion); got keys: answer, question",
        ),
        (
            {"instruction": "q", "output": "a", "messages": []},
            "the record has keys of two formats (alpaca and chat)",
        ),
    ],
)
def test_missing_wrong_or_empty_field(write, recipe, tok, bad, expected):
    p = write([qa(1), qa(2), bad])
    assert _error(recipe, tok, p).startswith(f"{p}:3: {expected}")


def test_empty_output_in_chat_and_completion(write, recipe, tok):
    chat = write(
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}]
    )
    assert _error(recipe, tok, chat).startswith(
        f"{chat}:1: messages[1] (assistant) content is empty"
    )
    comp = write(
        [{"prompt": "q", "completion": "a"}, {"prompt": "q", "completion": " \n"}], name="c.jsonl"
    )
    assert _error(recipe, tok, comp).startswith(f"{comp}:2: field 'completion' is empty")


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [("user", "a"), ("user", "b"), ("assistant", "c")],
            "roles must alternate user/assistant after an optional system message: messages[1] is user "
            "after user, expected assistant",
        ),
        (
            [("assistant", "a")],
            "roles must alternate user/assistant after an optional system message: messages[0] is "
            "assistant first (after an optional system message), expected user",
        ),
        (
            [("user", "a"), ("system", "s"), ("assistant", "c")],
            "roles must alternate user/assistant after an optional system message: messages[1] is system",
        ),
        ([("system", "s"), ("user", "a")], "the conversation must end with an assistant message"),
        (
            [("user", "a"), ("tool", "x")],
            "messages[1]: role must be one of system, user, assistant (got 'tool')",
        ),
    ],
)
def test_roles_that_do_not_alternate(write, recipe, tok, messages, expected):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = {"messages": [{"role": r, "content": c} for r, c in messages]}
    p = write([good, bad])
    assert _error(recipe, tok, p).startswith(f"{p}:2: {expected}")


def test_messages_not_a_list_of_objects(write, recipe, tok):
    p = write([{"messages": "hello"}, {"messages": ["hi"]}])
    assert _error(recipe, tok, p).startswith(f"{p}:1: field 'messages' must be a non-empty list")
    p2 = write([{"messages": ["hi"]}], name="e.jsonl")
    assert _error(recipe, tok, p2).startswith(f"{p2}:1: messages[0] must be an object, got text")


def test_two_formats_in_one_file(write, recipe, tok):
    chat = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    p = write([qa(1), "", qa(2), chat])
    assert _error(recipe, tok, p).startswith(
        f"{p}:4: the record is chat, but this source holds alpaca records (from its first "
        f"record, {p}:1); one file holds one format"
    )


def test_format_named_in_recipe_is_enforced(write, recipe, tok):
    p = write([qa(1)])
    assert _error(recipe, tok, p, format="completion").startswith(
        f"{p}:1: the record is alpaca, but this source holds completion records (data.format)"
    )


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path, recipe, tok, content):
    p = tmp_path / "empty.jsonl"
    p.write_bytes(content)
    assert _error(recipe, tok, p).startswith(f"{p}:1: no records: the file is empty")


def test_missing_file_and_folder(tmp_path, recipe, tok, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _error(recipe, tok, "data/nope.jsonl").startswith("data/nope.jsonl: file not found")
    (tmp_path / "dir").mkdir()
    assert _error(recipe, tok, "dir").startswith("dir: is a folder")


def test_input_without_placeholder_is_refused(write, recipe, tok):
    p = write([qa(1), {"instruction": "q", "input": "context", "output": "a"}])
    assert _error(recipe, tok, p, prompt_template="Q: {instruction}").startswith(
        f"{p}:2: field 'input' is not empty but data.prompt_template has no {{input}}"
    )


def test_all_bad_records_of_a_file_are_counted_in_the_message(write, recipe, tok):
    p = write([qa(1), "nope", qa(3), [1], {"instruction": "q"}])
    msg = _error(recipe, tok, p)
    assert msg.startswith(f"{p}:2: not valid JSON")
    assert f"(2 more bad record(s): {p}:4, {p}:5)" in msg


def test_windows_file_with_bom_crlf_and_blank_lines(write, recipe, tok):
    rows = [qa(1), "", qa(2, input="Мәтін\r\nекі жол"), "   ", qa(3), qa(4), qa(5)]
    p = write(rows, newline="\r\n", bom=True)
    prep = prepare(recipe({"train": str(p), "split": {"valid": 0.0}}), tok)
    assert sorted(e.source for e in prep.train) == [f"{p}:{n}" for n in (1, 3, 5, 6, 7)]
    (src,) = prep.report.sources
    assert (src.format, src.records, src.skipped, src.crlf_records) == ("alpaca", 5, 0, 1)
    ex = next(e for e in prep.train if e.source == f"{p}:3")
    text = tok.decode(ex.tokens)
    assert "Мәтін\nекі жол" in text and "\r" not in text and "\ufeff" not in text


def test_skip_counts_bad_records_by_reason(write, recipe, tok):
    p = write(
        [
            qa(1),
            "nope",
            {"instruction": "q", "output": ""},
            [2],
            qa(5),
            {"instruction": "q"},
            {"prompt": "p", "completion": "c"},
            qa(8),
        ]
    )
    prep = prepare(recipe({"train": str(p), "on_bad_record": "skip", "split": {"valid": 0.0}}), tok)
    assert sorted(e.source for e in prep.train) == [f"{p}:1", f"{p}:5", f"{p}:8"]
    skipped = {(i.location, i.reason) for i in prep.report.issues if i.kind == "skipped"}
    assert skipped == {
        (f"{p}:2", "malformed_json"),
        (f"{p}:3", "empty_output"),
        (f"{p}:4", "not_object"),
        (f"{p}:6", "missing_field"),
        (f"{p}:7", "mixed_formats"),
    }
    assert prep.report.sources[0].skipped == 5


def test_skip_still_fails_when_nothing_is_usable(write, recipe, tok):
    p = write(["nope", "[1]"])
    msg = _error(recipe, tok, p, on_bad_record="skip")
    assert msg.startswith(f"{p}: none of its 2 record(s) is usable (first: {p}:1: not valid JSON")


def test_unused_keys_are_counted_not_silently_dropped(write, recipe, tok):
    p = write([qa(1, id=1), qa(2, id=2, source="x"), qa(3)])
    prep = prepare(recipe({"train": str(p), "split": {"valid": 0.0}}), tok)
    assert prep.report.sources[0].unused_keys == {"id": 2, "source": 1}
    turn = {"role": "user", "content": "q", "name": "x"}
    chat = write(
        [{"messages": [turn, {"role": "assistant", "content": "a"}], "id": 1}], name="c.jsonl"
    )
    prep = prepare(recipe({"train": str(chat), "split": {"valid": 0.0}}), tok)
    assert prep.report.sources[0].unused_keys == {"id": 1, "messages[].name": 1}


def test_null_input_counts_as_missing(write, recipe, tok):
    p = write([{"instruction": "Сұрақ", "input": None, "output": "Жауап"}])
    prep = prepare(recipe({"train": str(p), "split": {"valid": 0.0}}), tok)
    assert "<start_of_turn>user\nСұрақ<end_of_turn>" in tok.decode(prep.train[0].tokens)
