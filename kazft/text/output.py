"""Atomic output: write ``PATH.tmp-<pid>``, then rename over ``PATH``.

A tool that fails half-way (bad record on line 90 000, Ctrl-C) must leave no
half-written file behind, and the old file, if any, intact. Writing next to
the target keeps the rename on one filesystem, where it is atomic.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from kazft.errors import DataError


@contextlib.contextmanager
def atomic_output(path: str | Path | None) -> Iterator[TextIO]:
    """A text handle for ``path``; stdout when ``path`` is None or ``-``."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise DataError(f"{target}: is a folder; give a file name for the output")
    if not target.parent.exists():
        raise DataError(f"{target.parent}: output folder does not exist")
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            yield fh
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_binary(path: str | Path) -> Iterator[Path]:
    """A temporary path to write binary output to; renamed to ``path`` on success."""
    target = Path(path)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
