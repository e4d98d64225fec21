"""Batch mode: records in, the same records plus "generated" out; resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.errors import DataError, Interrupted, KazftError
from kazft.generate.batch import read_answers, run_batch
from kazft.generate.engine import Sampling
from kazft.generate.source import default_data

QUESTIONS = [
    {"id": 1, "instruction": "Салық деген не?"},
    {"id": 2, "instruction": "Еңбек шарты", "input": "ҚР Еңбек кодексі"},
    {"id": 3, "instruction": "Неке жасы қандай?", "input": ""},
    {"id": 4, "instruction": "Мұрагерлік"},
]
S = Sampling(max_tokens=6)


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Counting:
    """The engine, counting generate calls and optionally failing after N of them."""

    def __init__(self, engine, fail_after: int | None = None) -> None:
        self.engine, self.fail_after, self.calls = engine, fail_after, 0
        self.tokenizer, self.source = engine.tokenizer, engine.source

    def check_fits(self, n: int) -> None:
        self.engine.check_fits(n)

    def generate(self, ids, sampling):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        return self.engine.generate(ids, sampling)


@pytest.fixture(scope="module")
def reference(engine_for, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The answers of one uninterrupted run."""
    d = tmp_path_factory.mktemp("ref")
    run_batch(
        engine_for(),
        default_data(),
        S,
        str(_write(d / "q.jsonl", QUESTIONS)),
        d / "a.jsonl",
        progress=False,
    )
    return _read(d / "a.jsonl")


def test_output_is_the_records_plus_generated(reference: list[dict], engine_for, tiny_dir: Path):
    extra = ("generated", "generated_by")
    assert [{k: v for k, v in r.items() if k not in extra} for r in reference] == QUESTIONS
    assert all(isinstance(r["generated"], str) and r["generated"] for r in reference)
    by = reference[0]["generated_by"]
    assert by["base"] == str(tiny_dir) and by["adapter"] is None and by["adapter_sha256"] is None
    assert (by["max_tokens"], by["temperature"], by["top_p"], by["seed"]) == (6, 0.0, 1.0, 0)
    eng = engine_for()
    from kazft.generate.prompt import prompt_ids, question_messages

    _, ids = prompt_ids(
        eng.tokenizer, question_messages(default_data(), "Еңбек шарты", "ҚР Еңбек кодексі")
    )
    assert reference[1]["generated"] == eng.generate(ids, S).text


def test_interrupted_run_resumes_without_repeating(
    engine_for, reference: list[dict], tmp_path: Path
):
    q = _write(tmp_path / "q.jsonl", QUESTIONS)
    out = tmp_path / "a.jsonl"
    first = Counting(engine_for(), fail_after=2)
    with pytest.raises(
        Interrupted,
        match=r"2 of 4 records answered, kept in .*a.jsonl.partial; "
        r"run the same command again to answer the other 2",
    ):
        run_batch(first, default_data(), S, str(q), out, progress=False)
    assert not out.exists()  # the output appears only complete
    partial = tmp_path / "a.jsonl.partial"
    assert _read(partial) == reference[:2]

    second = Counting(engine_for())
    summary = run_batch(second, default_data(), S, str(q), out, progress=False)
    assert second.calls == 2  # records 3 and 4 only
    assert (summary.total, summary.skipped, summary.answered) == (4, 2, 2)
    assert _read(out) == reference  # same answers as the uninterrupted run
    assert not partial.exists()

    third = Counting(engine_for())
    summary = run_batch(third, default_data(), S, str(q), out, progress=False)
    assert third.calls == 0 and summary.skipped == 4 and _read(out) == reference


def test_new_records_are_answered_and_torn_lines_dropped(
    engine_for, reference: list[dict], tmp_path: Path
):
    q = _write(tmp_path / "q.jsonl", QUESTIONS[:2])
    out = tmp_path / "a.jsonl"
    run_batch(engine_for(), default_data(), S, str(q), out, progress=False)
    # The run stopped while writing record 3's answer: a line without its newline.
    partial = tmp_path / "a.jsonl.partial"
    partial.write_text(json.dumps(reference[2], ensure_ascii=False)[:-5], encoding="utf-8")
    _write(q, QUESTIONS)
    notes: list[str] = []
    eng = Counting(engine_for())
    run_batch(eng, default_data(), S, str(q), out, progress=False, note=notes.append)
    assert eng.calls == 2 and _read(out) == reference
    assert any("dropped 1 incomplete last line" in n for n in notes)


def test_overwrite_answers_everything_again(engine_for, reference: list[dict], tmp_path: Path):
    q = _write(tmp_path / "q.jsonl", QUESTIONS)
    out = _write(tmp_path / "a.jsonl", [{**r, "generated": "old"} for r in reference])
    eng = Counting(engine_for())
    run_batch(eng, default_data(), S, str(q), out, overwrite=True, progress=False)
    assert eng.calls == 4 and _read(out) == reference


def test_bad_records_are_listed_with_their_lines(engine_for, tmp_path: Path):
    q = tmp_path / "q.jsonl"
    q.write_text(
        '{"instruction": "ok"}\n\n[1]\n{"input": "x"}\n{"instruction": "a", "input": 3}\n{bad\n'
    )
    with pytest.raises(DataError) as err:
        run_batch(engine_for(), default_data(), S, str(q), tmp_path / "a.jsonl", progress=False)
    msg = str(err.value)
    assert f'{q}:3: expected a JSON object; {q}:4: needs a non-empty string "instruction"; ' in msg
    assert f'{q}:5: "input" must be a string; {q}:6: not valid JSON' in msg


def test_records_too_long_for_the_context_are_refused_before_generating(engine_for, tmp_path: Path):
    q = _write(tmp_path / "q.jsonl", [{"instruction": "Қысқа"}, {"instruction": "Ұзақ " * 40}])
    eng = Counting(engine_for(max_context=40))
    with pytest.raises(
        DataError, match=rf"{q}:2: the prompt is \d+ tokens but the context holds 40"
    ):
        run_batch(eng, default_data(), S, str(q), tmp_path / "a.jsonl", progress=False)
    assert eng.calls == 0


def test_corrupt_output_line_is_an_error(tmp_path: Path):
    out = tmp_path / "a.jsonl"
    out.write_text('{"instruction": "a", "generated": "x"}\nnot json\n{"instruction": "b"}\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: not an answered record .*--overwrite"):
        read_answers(out)


def test_a_partial_file_torn_inside_a_letter_is_dropped_and_said(
    engine_for, reference: list[dict], tmp_path: Path
):
    q = _write(tmp_path / "q.jsonl", QUESTIONS)
    out = tmp_path / "a.jsonl"
    full = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reference).encode()
    # `head -c N full.jsonl > a.jsonl.partial`: N falls inside a two-byte Kazakh letter.
    cut = full.index("Неке".encode()) + 1
    assert full[cut - 1] >= 0xC0  # the first byte of a 2-byte letter
    (tmp_path / "a.jsonl.partial").write_bytes(full[:cut])
    notes: list[str] = []
    eng = Counting(engine_for())
    summary = run_batch(eng, default_data(), S, str(q), out, progress=False, note=notes.append)
    assert (summary.skipped, eng.calls) == (2, 2) and _read(out) == reference
    assert any("dropped 1 incomplete last line" in n for n in notes), notes


def test_a_resume_with_other_settings_is_refused_unless_forced(
    engine_for, adapter_dir: Path, reference: list[dict], tmp_path: Path
):
    q = _write(tmp_path / "q.jsonl", QUESTIONS)
    out = tmp_path / "a.jsonl"
    with pytest.raises(Interrupted):
        run_batch(
            Counting(engine_for(str(adapter_dir)), fail_after=2),
            default_data(),
            S,
            str(q),
            out,
            progress=False,
        )
    partial = tmp_path / "a.jsonl.partial"
    before = partial.read_bytes()
    base = Counting(engine_for())
    short = Sampling(max_tokens=8)
    with pytest.raises(KazftError) as err:
        run_batch(base, default_data(), short, str(q), out, progress=False)
    msg = str(err.value)
    assert "earlier answers came from other settings" in msg
    assert f"adapter {adapter_dir} (sha256 " in msg and "-> none (2 answers)" in msg
    assert "max_tokens 6 -> 8 (2 answers)" in msg and "--force" in msg
    assert base.calls == 0 and partial.read_bytes() == before  # nothing generated or written
    # The same settings resume; --force mixes, and every record says what answered it.
    summary = run_batch(base, default_data(), short, str(q), out, progress=False, force=True)
    assert (summary.skipped, base.calls) == (2, 2)
    got = _read(out)
    assert [r["generated_by"]["adapter"] for r in got] == [str(adapter_dir)] * 2 + [None] * 2
    assert [r["generated_by"]["max_tokens"] for r in got] == [6, 6, 8, 8]
    assert got[2:] != reference[2:]  # max_tokens 8 answers, not the reference run's 6


def test_answers_without_generated_by_are_not_resumed_silently(
    engine_for, reference: list[dict], tmp_path: Path
):
    q = _write(tmp_path / "q.jsonl", QUESTIONS)
    out = _write(
        tmp_path / "a.jsonl",
        [{k: v for k, v in r.items() if k != "generated_by"} for r in reference],
    )
    with pytest.raises(KazftError, match="no generated_by recorded"):
        run_batch(Counting(engine_for()), default_data(), S, str(q), out, progress=False)


def test_output_equal_to_input_is_refused(engine_for, tmp_path: Path):
    q = _write(tmp_path / "q.jsonl", QUESTIONS)
    before = q.read_bytes()
    for out in (q, tmp_path / "sub" / ".." / "q.jsonl"):
        with pytest.raises(KazftError, match="would overwrite the questions"):
            run_batch(Counting(engine_for()), default_data(), S, str(q), out, progress=False)
    assert q.read_bytes() == before
