"""Batch mode: instruction/input JSONL in, the same records plus ``generated`` out.

Resumable: every answer is appended to ``OUTPUT.partial`` (one flushed line
per record) as soon as it exists; a rerun reads OUTPUT and OUTPUT.partial and
skips every record already answered (a record is the same when all its fields
but ``generated`` and ``generated_by`` are equal). When every record has an
answer, OUTPUT is written atomically in input order and the .partial file is
removed. Each record is sampled with the same seed, so an interrupted and
resumed run gives the answers an uninterrupted run gives.

Every answer carries ``generated_by``: the base, its quantisation, the
adapter's SHA-256, a hash of the prompt settings and the sampling settings. A
resume with different ones is refused, naming the difference, unless forced,
so one file never silently mixes the answers of two models.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kazft.artifacts.atomic import atomic_write
from kazft.errors import DataError, Interrupted, KazftError
from kazft.generate.engine import Engine, Sampling
from kazft.generate.prompt import prompt_ids, question_messages
from kazft.generate.provenance import PROVENANCE, differences, generated_by, record_key
from kazft.generate.stats import GenStats, memory
from kazft.recipe import DataSection

MAX_LISTED = 10


@dataclass
class Question:
    line: int
    record: dict[str, Any]

    @property
    def key(self) -> str:
        return record_key(self.record)


@dataclass
class BatchSummary:
    total: int
    skipped: int  # answered by an earlier run
    answered: int  # answered now
    seconds: float
    stats: list[GenStats] = field(default_factory=list)
    unmatched: int = 0  # answers on disk that match no question

    @property
    def tokens_per_s(self) -> float | None:
        toks = sum(s.generated_tokens - 1 for s in self.stats if s.generated_tokens > 1)
        secs = sum(s.decode_s for s in self.stats if s.generated_tokens > 1)
        return toks / secs if secs > 0 else None

    def as_dict(self) -> dict[str, Any]:
        tps = self.tokens_per_s
        n = len(self.stats)
        return {
            "total": self.total,
            "skipped": self.skipped,
            "answered": self.answered,
            "unmatched": self.unmatched,
            "seconds": round(self.seconds, 3),
            "generated_tokens": sum(s.generated_tokens for s in self.stats),
            "tokens_per_s": round(tps, 3) if tps is not None else None,
            "mean_ttft_s": round(sum(s.ttft_s for s in self.stats) / n, 4) if n else None,
            "peak_memory_gb": max((s.peak_memory_gb for s in self.stats), default=None),
        }

    def line(self) -> str:
        d = self.as_dict()
        parts = [f"answered {self.answered} of {self.total}"]
        if self.skipped:
            parts.append(f"{self.skipped} already answered")
        head = ", ".join(parts) + f" in {self.seconds:.1f} s"
        if not self.stats:
            return head
        tps = d["tokens_per_s"]
        speed = f"{tps:.1f} tok/s" if tps is not None else "- tok/s"
        return (
            f"{head}: {d['generated_tokens']} tok, {speed}, mean TTFT {d['mean_ttft_s']:.2f} s, "
            f"peak {memory(d['peak_memory_gb'])}"
        )


def _raise_problems(problems: list[str], what: str) -> None:
    if problems:
        shown = "; ".join(problems[:MAX_LISTED])
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise DataError(f"{shown}{more}. {what}")


def read_questions(path: str, stdin: TextIO | None = None) -> list[Question]:
    """Records with a non-empty string ``instruction`` and an optional string ``input``."""
    name = "<stdin>" if path == "-" else path
    if path == "-":
        lines = (stdin or sys.stdin).read().splitlines()
    else:
        try:
            lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
        except (FileNotFoundError, IsADirectoryError) as err:
            what = "is a folder" if isinstance(err, IsADirectoryError) else "no such file"
            raise DataError(
                f'{path}: {what}; give a JSONL file of {{"instruction": ..., "input": ...}} records'
            ) from None
    out: list[Question] = []
    problems: list[str] = []
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as err:
            problems.append(f"{name}:{i}: not valid JSON ({err.msg})")
            continue
        if not isinstance(rec, dict):
            problems.append(f"{name}:{i}: expected a JSON object")
        elif not isinstance(rec.get("instruction"), str) or not rec["instruction"].strip():
            problems.append(f'{name}:{i}: needs a non-empty string "instruction"')
        elif not isinstance(rec.get("input", ""), str):
            problems.append(f'{name}:{i}: "input" must be a string')
        else:
            out.append(Question(i, rec))
    _raise_problems(
        problems,
        'Each line must be {"instruction": "...", "input": "..."} '
        "(input optional); fix these lines",
    )
    if not out:
        raise DataError(f"{name}: no records to answer")
    return out


def read_answers(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """(answered records, whether a torn last line was dropped) from an output file."""
    if not path.exists():
        return [], False
    # Split bytes, not text: a torn last line may end inside a multi-byte letter.
    lines = path.read_bytes().split(b"\n")
    torn = False
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        # No final newline: the last line was being written when the run stopped.
        lines.pop()
        torn = True
    out = []
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            rec = None
        if not isinstance(rec, dict) or not isinstance(rec.get("generated"), str):
            raise DataError(
                f'{path}:{i}: not an answered record (JSON with "generated"); '
                "delete that line to resume, or pass --overwrite to start over"
            )
        out.append(rec)
    return out, torn


def run_batch(
    engine: Engine,
    data: DataSection,
    sampling: Sampling,
    input_path: str,
    output: Path,
    overwrite: bool = False,
    progress: bool = True,
    note: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
    force: bool = False,
    questions: list[Question] | None = None,
) -> BatchSummary:
    """Answer every record of ``input_path`` into ``output``, resuming what is there.

    ``force``: resume although earlier answers came from other model or sampling settings.
    ``questions``: what :func:`preflight` returned (stdin can be read only once).
    """
    t0 = time.perf_counter()
    if questions is None:
        questions = preflight(input_path, output, engine.source, sampling, overwrite, force)
    partial = output.with_name(output.name + ".partial")
    by = generated_by(engine.source, sampling)
    if overwrite:
        partial.unlink(missing_ok=True)
    done = _answers_on_disk(output, overwrite, note, repair=True)
    if _settings_differ(questions, done, by):  # forced (preflight refused otherwise)
        note(f"kazft: --force: {output} mixes answers from different settings (see generated_by)")

    answers: list[dict[str, Any] | None] = []
    todo: list[tuple[int, Question, list[int]]] = []
    problems: list[str] = []
    name = "<stdin>" if input_path == "-" else input_path
    for q in questions:
        if done.get(q.key):
            old = done[q.key].pop(0)
            kept = {**q.record, "generated": old["generated"]}
            if PROVENANCE in old:
                kept[PROVENANCE] = old[PROVENANCE]
            answers.append(kept)
            continue
        answers.append(None)
        messages = question_messages(data, q.record["instruction"], q.record.get("input", ""))
        try:
            _, ids = prompt_ids(engine.tokenizer, messages)
            engine.check_fits(len(ids))
        except KazftError as err:
            problems.append(f"{name}:{q.line}: {err}")
            continue
        todo.append((len(answers) - 1, q, ids))
    unmatched = sum(len(v) for v in done.values())
    _raise_problems(problems, "Nothing was generated; fix or remove these records")
    if unmatched:
        note(
            f"kazft: {unmatched} earlier answers match no record of {name} (edited input?); "
            f"they are left out of {output}"
        )

    summary = BatchSummary(
        total=len(questions),
        skipped=len(questions) - len(todo),
        answered=0,
        seconds=0.0,
        unmatched=unmatched,
    )
    if todo:
        try:
            _answer_all(engine, sampling, by, todo, answers, partial, summary, progress)
        except KeyboardInterrupt:
            left = len(todo) - summary.answered
            raise Interrupted(
                f"interrupted: {summary.skipped + summary.answered} of {summary.total} records "
                f"answered, kept in {partial}; run the same command again to answer the other "
                f"{left} (they resume, nothing is asked twice)"
            ) from None
    final = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers)
    atomic_write(output, final)
    partial.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - t0
    return summary


def preflight(
    input_path: str,
    output: Path,
    source: Any,
    sampling: Sampling,
    overwrite: bool = False,
    force: bool = False,
) -> list[Question]:
    """Every check that needs no model: paths, questions, earlier answers and their settings.

    Returns the questions; raises KazftError before anything is loaded or written.
    """
    check_paths(input_path, output)
    questions = read_questions(input_path)
    done = _answers_on_disk(output, overwrite, note=lambda msg: None, repair=False)
    differ = _settings_differ(questions, done, generated_by(source, sampling))
    if differ and not force:
        listed = "; ".join(f"{d} ({n} answer{'s' if n != 1 else ''})" for d, n in differ.items())
        raise KazftError(
            f"{output}: the earlier answers came from other settings: {listed}. Resume with "
            "the settings they were generated with, pass --overwrite to answer everything "
            "again, --force to add answers from these settings to the same file, or choose "
            "another --output"
        )
    return questions


def _answers_on_disk(
    output: Path, overwrite: bool, note: Callable[[str], None], repair: bool
) -> dict[str, list[dict[str, Any]]]:
    """Earlier answers by record key, from OUTPUT and OUTPUT.partial (none with overwrite)."""
    done: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if overwrite:
        return done
    for path in (output, output.with_name(output.name + ".partial")):
        records, torn = read_answers(path)
        if torn:
            note(
                f"kazft: {path}: dropped 1 incomplete last line (the run stopped while "
                "writing it); that record is answered again"
            )
            if repair:
                # Cut the fragment off so the next appended answer starts on its own line.
                atomic_write(
                    path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                )
        for rec in records:
            done[record_key(rec)].append(rec)
    return done


def _settings_differ(
    questions: list[Question], done: dict[str, list[dict[str, Any]]], by: dict[str, Any]
) -> dict[str, int]:
    """{difference: answers} over the earlier answers this run would keep."""
    differ: dict[str, int] = {}
    for key, n in Counter(q.key for q in questions).items():
        for rec in done.get(key, [])[:n]:
            for d in differences(rec.get(PROVENANCE), by):
                differ[d] = differ.get(d, 0) + 1
    return differ


def check_paths(input_path: str, output: Path) -> None:
    """Refuse an --output that would overwrite the questions (checked before any model loads)."""
    if input_path == "-":
        return
    src = Path(input_path)
    partial = output.with_name(output.name + ".partial")
    for target in (output, partial):
        if target.resolve() == src.resolve():
            raise KazftError(
                f"--output {output} would overwrite the questions in --input {input_path}; "
                "write the answers to another file"
            )
    if output.is_dir():
        raise KazftError(f"--output {output} is a folder; give a file name for the answers")


def _answer_all(
    engine: Engine,
    sampling: Sampling,
    by: dict[str, Any],
    todo: list,
    answers: list,
    partial: Path,
    summary: BatchSummary,
    progress: bool,
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from kazft.console import console, live

    partial.parent.mkdir(parents=True, exist_ok=True)
    con = console(stderr=True)
    bar = Progress(
        TextColumn("answering"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[speed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=con,
        disable=not (progress and live(con)),  # off a terminal: the summary line only
        transient=False,
    )
    with bar, open(partial, "a", encoding="utf-8") as f:
        task = bar.add_task("answering", total=len(todo), speed="")
        for slot, q, ids in todo:
            gen = engine.generate(ids, sampling)
            rec = {**q.record, "generated": gen.text, PROVENANCE: by}
            answers[slot] = rec
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            summary.answered += 1
            summary.stats.append(gen.stats)
            tps = summary.tokens_per_s
            bar.update(task, advance=1, speed=f"{tps:.1f} tok/s" if tps else "")
