"""Atomic output for the text tools, through kazft's one atomic writer.

A tool that fails half-way (bad record on line 90 000, Ctrl-C) must leave no
half-written file behind, and the old file, if any, intact
(:mod:`kazft.artifacts.atomic`: a hidden temporary sibling, fsync, rename).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, cast

from kazft.artifacts.atomic import atomic_open, atomic_path
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
    with atomic_open(target, "w") as fh:
        yield cast(TextIO, fh)


@contextlib.contextmanager
def atomic_binary(path: str | Path) -> Iterator[Path]:
    """A temporary path to write binary output to; renamed to ``path`` on success."""
    with atomic_path(path) as tmp:
        yield tmp
