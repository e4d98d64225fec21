"""CSV, TSV, JSON, JSONL, Parquet and ``datasets`` sources to kazft JSONL.

Every reader yields (position, row) so that a bad value is reported at its
line (CSV, JSONL) or record/row number (JSON, Parquet, datasets). Columns
named in ``--map`` are checked against the header before anything is written.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.errors import DataError
from kazft.text.records import iter_lines

KAZFT_FIELDS = ("instruction", "input", "output", "category")
REQUIRED = ("instruction", "output")
FORMATS = ("csv", "tsv", "json", "jsonl", "parquet", "datasets")
_SUFFIX_FORMAT = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass
class Table:
    """Rows of a source; ``columns`` is None when rows may differ (JSON)."""

    name: str
    columns: list[str] | None
    rows: Iterator[tuple[str, dict[str, Any]]]
    header_where: str


def parse_mapping(spec: str | None) -> dict[str, str]:
    """``question=instruction,answer=output`` -> {"question": "instruction", ...}."""
    if not spec:
        return {}
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        src, sep, dst = part.partition("=")
        src, dst = src.strip(), dst.strip()
        if not sep or not src or not dst:
            raise DataError(f"--map {spec!r}: {part.strip()!r} is not SOURCE=TARGET")
        if dst not in KAZFT_FIELDS:
            raise DataError(
                f"--map {spec!r}: target {dst!r} is not a kazft field ({', '.join(KAZFT_FIELDS)})"
            )
        if dst in mapping.values():
            raise DataError(f"--map {spec!r}: two columns map to {dst!r}")
        mapping[src] = dst
    return mapping


def detect_format(path: str) -> str:
    if path.startswith("hf:") or Path(path).is_dir():
        return "datasets"
    fmt = _SUFFIX_FORMAT.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: cannot tell the format from the name; pass --format ({', '.join(FORMATS)})"
        )
    return fmt


def _csv_table(path: str, delimiter: str, encoding: str) -> Table:
    lines = iter_lines(path, encoding)
    pos = {"line": 0}

    def numbered() -> Iterator[str]:
        for lineno, line in lines:
            pos["line"] = lineno
            yield line + "\n"

    reader = csv.reader(numbered(), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: file is empty") from None
    except csv.Error as err:
        raise DataError(f"{path}:{pos['line']}: {err}") from None
    header = [h.strip() for h in header]

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        while True:
            start = pos["line"] + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise DataError(f"{path}:{pos['line']}: {err}") from None
            if not any(v.strip() for v in values):
                continue
            yield f"{path}:{start}", dict(zip(header, values, strict=False))

    return Table(path, header, rows(), f"{path}:1")


def _json_table(path: str, encoding: str) -> Table:
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    try:
        data = json.loads(raw.decode(encoding).lstrip("\ufeff"))
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: byte 0x{raw[err.start : err.start + 1].hex()} is not "
            f"valid {encoding}; save the file as UTF-8 or pass --encoding"
        ) from None
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}: invalid JSON at column {err.colno}: {err.msg}"
        ) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{path}: expected a JSON array of objects (or one object holding one)")
        data = lists[0]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of objects, got {type(data).__name__}")

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for i, obj in enumerate(data, 1):
            if not isinstance(obj, dict):
                raise DataError(f"{path}: record {i}: expected an object, got {type(obj).__name__}")
            yield f"{path}: record {i}", obj

    return Table(path, None, rows(), path)


def _jsonl_table(path: str, encoding: str) -> Table:
    from kazft.text.records import read_records

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for rec in read_records(path, encoding, jsonl=True):
            yield rec.where, rec.data or {}

    return Table(path, None, rows(), path)


def _parquet_table(path: str) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if Path(path).stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not a Parquet file ({err})") from None

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        n = 0
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                n += 1
                yield f"{path}: row {n}", row

    return Table(path, list(pf.schema_arrow.names), rows(), path)


def _datasets_table(source: str, split: str | None) -> Table:
    import datasets

    name = source[3:] if source.startswith("hf:") else source
    try:
        if Path(name).is_dir():
            ds = datasets.load_from_disk(name)
        else:
            ds = datasets.load_dataset(name, split=split or "train")
    except Exception as err:  # datasets raises many types; all mean "cannot load"
        raise DataError(f"{source}: cannot load the dataset ({err})") from None
    if isinstance(ds, datasets.DatasetDict):
        chosen = split or "train"
        if chosen not in ds:
            raise DataError(
                f"{source}: no split {chosen!r} (splits: {', '.join(ds)}); pass --split"
            )
        ds = ds[chosen]

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for i, row in enumerate(ds, 1):
            yield f"{source}: row {i}", row

    return Table(source, list(ds.column_names), rows(), source)


def open_table(
    path: str, fmt: str | None = None, encoding: str = "utf-8", split: str | None = None
) -> Table:
    fmt = fmt or detect_format(path)
    if fmt != "datasets" and not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    if fmt in ("csv", "tsv"):
        return _csv_table(path, "," if fmt == "csv" else "\t", encoding)
    if fmt == "json":
        return _json_table(path, encoding)
    if fmt == "jsonl":
        return _jsonl_table(path, encoding)
    if fmt == "parquet":
        return _parquet_table(path)
    if fmt == "datasets":
        return _datasets_table(path, split)
    raise DataError(f"unknown --format {fmt!r} ({', '.join(FORMATS)})")


def resolve_mapping(table: Table, mapping: dict[str, str]) -> dict[str, str]:
    """Check ``mapping`` against the table's columns; default to same-name columns."""
    cols = table.columns
    if not mapping:
        if cols is None:
            return {}
        mapping = {c: c for c in cols if c in KAZFT_FIELDS}
        missing = [f for f in REQUIRED if f not in mapping.values()]
        if missing:
            raise DataError(
                f"{table.header_where}: no column named {' or '.join(map(repr, missing))} "
                f"(columns: {', '.join(cols)}); pass --map, e.g. --map question=instruction,"
                f"answer=output"
            )
        return mapping
    if cols is not None:
        for src in mapping:
            if src not in cols:
                raise DataError(
                    f"{table.header_where}: column {src!r} named in --map is not in "
                    f"the file (columns: {', '.join(cols)})"
                )
    return mapping


def _value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def convert_row(where: str, row: dict[str, Any], mapping: dict[str, str]) -> dict[str, str]:
    """One source row to a kazft record (instruction, input, output[, category])."""
    if not mapping:  # JSON sources without --map: same-name fields
        mapping = {k: k for k in row if k in KAZFT_FIELDS}
    out = {"instruction": "", "input": "", "output": ""}
    for src, dst in mapping.items():
        if src not in row:
            if dst in REQUIRED:
                raise DataError(
                    f"{where}: field {src!r} named in --map is missing "
                    f"(fields: {', '.join(map(str, row))})"
                )
            continue
        out[dst] = _value(row[src]).strip() if dst == "category" else _value(row[src])
    if "category" in mapping.values() and "category" not in out:
        out["category"] = ""
    return out


def convert_table(table: Table, mapping: dict[str, str], out: Any) -> dict[str, Any]:
    """Stream ``table`` into ``out`` as kazft JSONL; returns counts for the summary.

    Rows whose instruction or output ends up empty are skipped (and counted):
    a training example needs both.
    """
    mapping = resolve_mapping(table, mapping)
    stats: dict[str, Any] = {"rows": 0, "written": 0, "skipped (empty)": 0}
    skipped_at: list[str] = []
    for where, row in table.rows:
        if stats["rows"] == 0 and not mapping:
            missing = [f for f in REQUIRED if f not in row]
            if missing:
                raise DataError(
                    f"{where}: no field named {' or '.join(map(repr, missing))} (fields: "
                    f"{', '.join(map(str, row))}); pass --map, e.g. --map question=instruction,"
                    f"answer=output"
                )
        stats["rows"] += 1
        rec = convert_row(where, row, mapping)
        if not rec["instruction"].strip() or not rec["output"].strip():
            stats["skipped (empty)"] += 1
            if len(skipped_at) < 3:
                skipped_at.append(where)
            continue
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        stats["written"] += 1
    if stats["rows"] == 0:
        raise DataError(f"{table.name}: no rows")
    if skipped_at:
        stats["first skipped"] = "; ".join(skipped_at)
    return stats
