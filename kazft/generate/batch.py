"""Batch mode: instruction/input JSONL in, the same records plus ``generated`` out.

Resumable: every answer is appended to ``OUTPUT.partial`` (one flushed line
per record) as soon as it exists; a rerun reads OUTPUT and OUTPUT.partial and
skips every record already answered (a record is the same when all its fields
but ``generated`` are equal). When every record has an answer, OUTPUT is
written atomically in input order and the .partial file is removed. Each
record is sampled with the same seed, so an interrupted and resumed run gives
the answers an uninterrupted run gives.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kazft.errors import DataError, KazftError
from kazft.generate.chat import write_atomic
from kazft.generate.engine import Engine, Sampling
from kazft.generate.prompt import prompt_ids, question_messages
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


def record_key(record: dict[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in record.items() if k != "generated"}, sort_keys=True, ensure_ascii=False
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
        except FileNotFoundError:
            raise DataError(
                f"{path}: no such file; give a JSONL file of "
                '{"instruction": ..., "input": ...} records'
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
    lines = path.read_text(encoding="utf-8").split("\n")
    torn = False
    if lines and lines[-1] == "":
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
            rec = json.loads(raw)
        except json.JSONDecodeError:
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
) -> BatchSummary:
    t0 = time.perf_counter()
    questions = read_questions(input_path)
    partial = output.with_name(output.name + ".partial")
    done: dict[str, list[str]] = defaultdict(list)
    if overwrite:
        partial.unlink(missing_ok=True)
    else:
        for path in (output, partial):
            records, torn = read_answers(path)
            if torn:
                note(
                    f"kazft: {path}: dropped an incomplete last line (the run stopped while "
                    "writing it); that record is answered again"
                )
                # Cut the fragment off so the next appended answer starts on its own line.
                write_atomic(
                    path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                )
            for rec in records:
                done[record_key(rec)].append(rec["generated"])

    answers: list[str | None] = []
    todo: list[tuple[int, Question, list[int]]] = []
    problems: list[str] = []
    name = "<stdin>" if input_path == "-" else input_path
    for q in questions:
        if done.get(q.key):
            answers.append(done[q.key].pop(0))
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
    _raise_problems(problems, "Nothing was generated; fix or remove these records")
    unmatched = sum(len(v) for v in done.values())
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
        _answer_all(engine, sampling, todo, answers, partial, summary, progress)
    final = "".join(
        json.dumps({**q.record, "generated": a}, ensure_ascii=False) + "\n"
        for q, a in zip(questions, answers, strict=True)
    )
    write_atomic(output, final)
    partial.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - t0
    return summary


def _answer_all(
    engine: Engine,
    sampling: Sampling,
    todo: list,
    answers: list,
    partial: Path,
    summary: BatchSummary,
    progress: bool,
) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    partial.parent.mkdir(parents=True, exist_ok=True)
    bar = Progress(
        TextColumn("answering"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[speed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
        transient=False,
    )
    with bar, open(partial, "a", encoding="utf-8") as f:
        task = bar.add_task("answering", total=len(todo), speed="")
        for slot, q, ids in todo:
            gen = engine.generate(ids, sampling)
            answers[slot] = gen.text
            f.write(json.dumps({**q.record, "generated": gen.text}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            summary.answered += 1
            summary.stats.append(gen.stats)
            tps = summary.tokens_per_s
            bar.update(task, advance=1, speed=f"{tps:.1f} tok/s" if tps else "")
