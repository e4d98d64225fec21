"""Export output folders: refuse to overwrite unless forced, then write atomically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kazft.artifacts import atomic
from kazft.artifacts.atomic import atomic_file
from kazft.errors import KazftError


def check_target(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise KazftError(f"{out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir() and out.suffix not in (".gz", ".tgz", ".tar"):
        raise KazftError(f"{out} exists and is not a folder; choose another --out")


@contextmanager
def atomic_folder(out: Path, force: bool = False) -> Iterator[Path]:
    """An export folder: refused if it exists (unless ``force``), then written atomically."""
    check_target(out, force)
    with atomic.atomic_folder(out) as tmp:
        yield tmp


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


__all__ = ["atomic_file", "atomic_folder", "check_target", "write_json"]
