"""Where records come from: local JSON Lines files and Hugging Face ``datasets``.

A data entry in a recipe (``data.train``, ``data.valid``, ``data.test``; each a
string or a list) is one of:

* a local file: read as JSON Lines, records located as ``file:line``
  (``.parquet`` files go through ``datasets``' Parquet loader);
* ``json:PATH``, ``parquet:PATH`` or ``csv:PATH``: local files through the
  ``datasets`` loader of that name (PATH may be a glob; ``json:`` also reads a
  JSON array);
* ``hf:OWNER/NAME[:SPLIT]``, or ``OWNER/NAME[:SPLIT]`` when no such local path
  exists: a dataset on the Hugging Face hub. SPLIT defaults to ``train`` for
  ``data.train``, ``validation`` for ``data.valid`` and ``test`` for
  ``data.test``; slices such as ``train[:1000]`` work.

Records from ``datasets`` are located as ``NAME:SPLIT:ROW`` with ROW counted
from 0, as in ``dataset[ROW]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.data.records import SourceRecords, iter_jsonl, validate_rows
from kazft.data.render import RecordProblem
from kazft.errors import DataError
from kazft.recipe import DataSection

LOADERS = ("json", "parquet", "csv")
DEFAULT_SPLIT = {"train": "train", "valid": "validation", "test": "test"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class Source:
    kind: str  # "jsonl", "loader" (datasets with local files) or "hub"
    name: str  # the path, glob or dataset id
    split: str = "train"
    loader: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "jsonl":
            return self.name
        prefix = f"{self.loader}:" if self.kind == "loader" else ""
        return f"{prefix}{self.name}:{self.split}"


def as_list(entry: str | list[str] | None) -> list[str]:
    if entry is None:
        return []
    return [entry] if isinstance(entry, str) else list(entry)


def parse_source(spec: str, role: str) -> Source:
    """Interpret one data entry (see the module docstring)."""
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in LOADERS:
        return Source("loader", rest, "train", prefix)
    if sep and prefix == "hf":
        return _hub(rest, role, spec)
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_dir():
            raise DataError(
                f"{spec}: is a folder; name the JSONL files (a list is fine), or use "
                f"parquet:{spec}/*.parquet or json:{spec}/*.jsonl"
            )
        if path.suffix.lower() == ".parquet":
            return Source("loader", str(path), "train", "parquet")
        return Source("jsonl", str(path))
    name = spec.partition(":")[0]
    looks_local = spec.startswith((".", "/", "~")) or Path(name).suffix.lower() in (
        ".jsonl",
        ".json",
        ".parquet",
        ".csv",
        ".txt",
    )
    if not looks_local and _HUB_ID.match(name):
        return _hub(spec, role, spec)
    raise DataError(
        f"{spec}: file not found (looked in {Path.cwd()}); paths are relative to the folder "
        "kazft runs in. A Hugging Face dataset is written OWNER/NAME or hf:OWNER/NAME[:SPLIT]"
    )


def _hub(rest: str, role: str, spec: str) -> Source:
    name, _, split = rest.partition(":")
    if not _HUB_ID.match(name):
        raise DataError(f"{spec}: not a Hugging Face dataset id (expected OWNER/NAME[:SPLIT])")
    return Source("hub", name, split or DEFAULT_SPLIT[role])


def _dataset_rows(src: Source) -> Iterator[tuple[str, Any]]:
    try:
        import datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError("reading Hugging Face datasets needs the `datasets` package") from None
    try:
        if src.kind == "hub":
            ds = datasets.load_dataset(src.name, split=src.split)
        else:
            ds = datasets.load_dataset(src.loader, data_files=src.name, split=src.split)
    except Exception as err:  # network, auth, missing files or split: all user-fixable
        where = "the Hugging Face hub" if src.kind == "hub" else "local files"
        raise DataError(
            f"{src.label}: could not load the dataset from {where} ({type(err).__name__}: "
            f"{str(err).strip()[:300]}). Check the name, the split, your network, and "
            "`hf auth login` for gated datasets"
        ) from None
    label = f"{src.loader}:{src.name}" if src.kind == "loader" else src.name
    for row, item in enumerate(ds):
        yield f"{label}:{src.split}:{row}", item


def read_source(spec: str, role: str, data: DataSection) -> SourceRecords:
    """Read and validate every record of one data entry."""
    src = parse_source(spec, role)
    result = SourceRecords(source=src.label, role=role)
    if src.kind == "jsonl":
        try:
            rows: Iterator[tuple[str, Any]] = iter_jsonl(Path(src.name))
            validate_rows(rows, result, data)
        except RecordProblem as p:  # the file itself could not be read
            raise DataError(f"{src.name}: {p.message}") from None
    else:
        validate_rows(_dataset_rows(src), result, data)
    if not result.records and not result.problems:
        where = f"{src.name}:1" if src.kind == "jsonl" else src.label
        raise DataError(
            f"{where}: no records: the {'file' if src.kind == 'jsonl' else 'dataset'} is empty "
            "(or holds only blank lines); give it at least one record"
        )
    return result


def check_sources(data: DataSection) -> None:
    """Every local data file exists and is a file: checked before a model is loaded."""
    for role in ("train", "valid", "test"):
        for spec in as_list(getattr(data, role)):
            parse_source(spec, role)
