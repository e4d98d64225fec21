"""``kazft generate`` and ``kazft chat`` from the command line."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from kazft.cli import main

STATS = re.compile(
    r"^prompt \d+ tok, TTFT \d+\.\d\d s, \d+\.\d tok/s \(6 tok\), peak \d+\.\d (MB|GB)$"
)


@pytest.fixture()
def recipe(run_dir: Path, embedded_tiny: Path) -> str:
    return str(run_dir.parent / "run-recipe.yaml")


def test_generate_from_a_recipe_streams_and_reports(recipe: str, capsys: pytest.CaptureFixture):
    assert main(["generate", "--recipe", recipe, "--max-tokens", "6", "Салық деген не?"]) == 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[0].startswith("kazft: kazft:tiny + run ") and lines[0].endswith(
        ": rank 8, 24 adapted projections merged"
    )
    assert STATS.match(lines[1]), lines[1]
    assert len(lines) == 2 and out.endswith("\n") and out.strip()


def test_json_and_quiet(
    recipe: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    assert main(["generate", "-r", recipe, "--max-tokens", "6", "--json", "Салық деген не?"]) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert err == "" and d["generated_tokens"] == 6 and d["finish_reason"] == "length"
    assert d["prompt_tokens"] == d["prefilled_tokens"] > 0 and d["tokens_per_s"] > 0
    # The question on stdin, --quiet: the same answer and nothing on stderr.
    monkeypatch.setattr("sys.stdin", io.StringIO("Салық деген не?\n"))
    assert main(["generate", "-r", recipe, "--max-tokens", "6", "--quiet"]) == 0
    out2, err2 = capsys.readouterr()
    assert err2 == "" and out2 == d["generated"] + "\n"


def test_batch_from_the_command_line(recipe: str, tmp_path: Path, capsys: pytest.CaptureFixture):
    q = tmp_path / "q.jsonl"
    q.write_text('{"instruction": "Салық деген не?"}\n{"instruction": "Неке", "input": "Кодекс"}\n')
    args = [
        "generate",
        "-r",
        recipe,
        "--max-tokens",
        "4",
        "--input",
        str(q),
        "--output",
        str(tmp_path / "a.jsonl"),
        "--json",
    ]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["answered"], first["skipped"], first["generated_tokens"]) == (2, 0, 8)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["answered"], again["skipped"]) == (0, 2)
    recs = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["instruction"] for r in recs] == ["Салық деген не?", "Неке"]


def test_chat_from_the_command_line(
    recipe: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("sys.stdin", io.StringIO("Сәлем\nСалық деген не?\n"))
    assert main(["chat", "-r", recipe, "--max-tokens", "6"]) == 0
    out, err = capsys.readouterr()
    assert out.endswith("\n") and out.strip()  # (a random model's answers may hold newlines)
    assert err.startswith("kazft chat: kazft:tiny + run ")
    assert len(re.findall(r"^\[prompt \d+ tok", err, re.M)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/no/such/model", "q"], "kazft: error: model '/no/such/model' not found: "),
        (
            ["--model", "kazft:tiny", "--adapter", "/no/such/adapter", "q"],
            "kazft: error: adapter '/no/such/adapter' not found: give a run folder",
        ),
        (
            ["--max-context", "8", "q"],
            "kazft: error: the prompt is 30 tokens but the context holds 8 "  # template + system
            "(--max-context); shorten the question or its input, or raise --max-context",
        ),
        (["--top-p", "0", "q"], "kazft: error: --top-p 0.0: must be in (0, 1]"),
        (["--input", "x.jsonl", "q"], "kazft: error: --input answers a JSONL file"),
    ],
)
def test_errors_are_one_line(
    recipe: str, args: list[str], message: str, capsys: pytest.CaptureFixture
):
    assert main(["generate", "-r", recipe, *args]) == 2
    err = capsys.readouterr().err
    error = err[err.index("kazft: error:") :]  # after the model line, if loading got that far
    assert error.startswith(message) and error.count("\n") == 1, err


def _no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr("kazft.generate.engine.load_engine", refuse)


def test_batch_output_equal_to_input_is_refused_before_loading(
    recipe: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    _no_model_load(monkeypatch)
    q = tmp_path / "q.jsonl"
    q.write_text('{"instruction": "Салық деген не?"}\n')
    assert main(["generate", "-r", recipe, "--input", str(q), "--output", str(q)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kazft: error: --output {q} would overwrite the questions")
    assert err.count("\n") == 1 and q.read_text() == '{"instruction": "Салық деген не?"}\n'


def test_ctrl_c_in_batch_mode_says_how_to_resume(
    recipe: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    from kazft.generate.engine import Engine

    q = tmp_path / "q.jsonl"
    q.write_text('{"instruction": "Салық"}\n{"instruction": "Неке"}\n{"instruction": "Жер"}\n')
    real, calls = Engine.generate, []

    def stop_on_second(self, ids, sampling, **kw):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(self, ids, sampling, **kw)

    monkeypatch.setattr(Engine, "generate", stop_on_second)
    out = tmp_path / "a.jsonl"
    args = ["generate", "-r", recipe, "--max-tokens", "3", "-i", str(q), "-o", str(out), "-q"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert err == (
        f"kazft: interrupted: 1 of 3 records answered, kept in {out}.partial; run the same "
        "command again to answer the other 2 (they resume, nothing is asked twice)\n"
    )


def test_ctrl_c_while_streaming_ends_the_answer_line(
    recipe: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    from kazft.generate.engine import Engine

    def half_then_stop(self, ids, sampling, on_text=None, **kw):
        on_text("Жауап")
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "generate", half_then_stop)
    assert main(["generate", "-r", recipe, "Салық деген не?"]) == 130
    out, err = capsys.readouterr()
    assert out == "Жауап\n" and err.endswith("kazft: interrupted\n")


def test_batch_input_errors_come_before_the_model_loads(
    recipe: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    _no_model_load(monkeypatch)
    missing = tmp_path / "nope.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "no instruction"}\n')
    for given, says in ((missing, "no such file"), (tmp_path, "is a folder"), (bad, ":1: needs")):
        out = tmp_path / "a.jsonl"
        assert main(["generate", "-r", recipe, "-i", str(given), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"kazft: error: {given}") and says in err, err
