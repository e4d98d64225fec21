"""Rewrite a JSONL or text file record by record (normalize, translit).

One loop for every verb that maps text to text, so they all stream, show the
same progress bar, keep non-text fields as they were and write atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kazft.text.output import atomic_output
from kazft.text.progress import track
from kazft.text.records import FieldChoice, count_lines, read_records


def rewrite_file(
    src: str | Path,
    dst: str | Path | None,
    func: Callable[[str], str],
    *,
    fields: tuple[str, ...] | None = None,
    encoding: str = "utf-8",
    label: str = "rewriting",
) -> tuple[int, int, FieldChoice]:
    """Apply ``func`` to the text fields of every record; returns (records, changed,
    the fields read). Fails, leaving no output file, when no record has the fields."""
    records = changed = 0
    choice = FieldChoice(fields, str(src))
    with atomic_output(dst) as out:
        for rec in track(read_records(src, encoding), label, count_lines(src)):
            new = rec.mapped(func, choice.pick(rec))
            line = new.dumps()
            records += 1
            changed += line != rec.dumps()
            out.write(line + "\n")
        choice.check()
    return records, changed, choice
