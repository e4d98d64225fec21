"""Streaming input for the text tools: kazft JSONL or plain text, with positions.

Files are read as bytes and decoded line by line so that an undecodable byte
is reported as ``file:line: ... column N`` instead of a bare UnicodeDecodeError
from the middle of a stream.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kazft.errors import DataError

TEXT_FIELDS = ("instruction", "input", "output")
# Layouts the verbs recognise without --fields, in this order: kazft's
# instruction records, the ``text`` records ``kazft data extract`` writes, chats.
FIELD_LAYOUTS = (TEXT_FIELDS, ("text",), ("messages",))
STDIN = "-"
JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass
class Record:
    """One input record: a JSON object (``data``) or a line of text (``text``)."""

    source: str
    line: int
    data: dict[str, Any] | None = None
    text: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def texts(self, fields: tuple[str, ...] = TEXT_FIELDS) -> list[str]:
        """The text of the chosen fields (strings, and the contents of a chat's
        messages), or the line itself."""
        if self.data is None:
            return [self.text or ""]
        out: list[str] = []
        for f in fields:
            value = self.data.get(f)
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out += [m["content"] for m in value if _is_message(m)]
        return out

    def joined(self, fields: tuple[str, ...] = TEXT_FIELDS) -> str:
        return "\n".join(t for t in self.texts(fields) if t)

    def mapped(self, func: Callable[[str], str], fields: tuple[str, ...] = TEXT_FIELDS) -> Record:
        """A copy with ``func`` applied to each chosen string field."""
        if self.data is None:
            return Record(self.source, self.line, text=func(self.text or ""))
        data = dict(self.data)
        for f in fields:
            value = data.get(f)
            if isinstance(value, str):
                data[f] = func(value)
            elif isinstance(value, list):
                data[f] = [
                    {**m, "content": func(m["content"])} if _is_message(m) else m for m in value
                ]
        return Record(self.source, self.line, data=data)

    def dumps(self) -> str:
        """The record as one output line (without the newline)."""
        if self.data is None:
            return self.text or ""
        return json.dumps(self.data, ensure_ascii=False)


def _is_message(m: Any) -> bool:
    return isinstance(m, dict) and isinstance(m.get("content"), str)


def has_fields(data: dict[str, Any], fields: tuple[str, ...]) -> bool:
    """Whether a JSON record carries text in at least one of ``fields``."""
    for f in fields:
        value = data.get(f)
        if isinstance(value, str) or (isinstance(value, list) and any(map(_is_message, value))):
            return True
    return False


class FieldChoice:
    """Which JSONL fields a verb reads in one file, and whether the file has them.

    With ``--fields`` the user's list is used; without it the first record that
    matches one of FIELD_LAYOUTS decides (so a verb reads another verb's output
    without flags). ``check`` fails when no record carries the fields: a verb that
    found nothing to work on must say so, not report "0 changed".
    """

    def __init__(self, requested: tuple[str, ...] | None, source: str) -> None:
        self.requested = requested
        self.fields = requested
        self.source = source
        self.json_records = 0
        self.with_fields = 0
        self.plain = False
        self.found: Counter[str] = Counter()

    def pick(self, rec: Record) -> tuple[str, ...]:
        """The fields to read in ``rec`` (recording what the file carries)."""
        if rec.data is None:
            self.plain = True
            return self.fields or TEXT_FIELDS
        self.json_records += 1
        if self.fields is None:
            self.fields = next((lay for lay in FIELD_LAYOUTS if has_fields(rec.data, lay)), None)
        fields = self.fields or TEXT_FIELDS
        if has_fields(rec.data, fields):
            self.with_fields += 1
        elif len(self.found) < 50:
            self.found.update(rec.data.keys())
        return fields

    @property
    def missing(self) -> int:
        """JSON records without any of the fields (left as they are)."""
        return self.json_records - self.with_fields

    def describe(self) -> str:
        if self.json_records == 0:
            return "(text lines)" if self.plain else "(no records)"
        how = "--fields" if self.requested else "auto"
        return f"{','.join(self.fields or TEXT_FIELDS)} ({how})"

    def check(self) -> None:
        if self.json_records and not self.with_fields:
            names = ",".join(self.fields or TEXT_FIELDS)
            found = ", ".join(sorted(self.found)) or "none"
            layouts = " or ".join(",".join(lay) for lay in FIELD_LAYOUTS)
            hint = "" if self.requested else f" (nor {layouts})"
            raise DataError(
                f"{self.source}: none of the {self.json_records} records has the field(s) "
                f"{names}{hint}; fields found: {found}. Pass --fields with the fields to use."
            )


def display_name(path: str | Path) -> str:
    return "<stdin>" if str(path) == STDIN else str(path)


def is_jsonl(path: str | Path) -> bool:
    return str(path).lower().endswith(JSONL_SUFFIXES)


def _open_binary(path: str | Path) -> BinaryIO:
    if str(path) == STDIN:
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a folder, expected a file")
    return p.open("rb")


def iter_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number, decoded line without its newline); an empty file is an error."""
    name = display_name(path)
    fh = _open_binary(path)
    seen_bytes = False
    try:
        for lineno, raw in enumerate(fh, 1):
            seen_bytes = seen_bytes or bool(raw.strip())
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as err:
                bad = raw[err.start : err.start + 1].hex()
                raise DataError(
                    f"{name}:{lineno}: byte 0x{bad} at column {err.start + 1} is not valid "
                    f"{encoding}; save the file as UTF-8 or pass --encoding (e.g. cp1251)"
                ) from None
            except LookupError:
                raise DataError(f"{name}: unknown encoding {encoding!r}") from None
            if lineno == 1:
                line = line.lstrip("\ufeff")
            yield lineno, line.rstrip("\r\n")
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    if not seen_bytes:
        raise DataError(f"{name}: file is empty")


def read_records(
    path: str | Path, encoding: str = "utf-8", jsonl: bool | None = None
) -> Iterator[Record]:
    """Records of a kazft JSONL file (blank lines skipped) or a text file (one per line).

    ``jsonl=None`` decides by suffix (.jsonl/.ndjson), or for stdin by whether the
    first non-blank line starts with ``{``.
    """
    name = display_name(path)
    lines = iter_lines(path, encoding)
    if jsonl is None and str(path) != STDIN:
        jsonl = is_jsonl(path)
    for lineno, line in lines:
        if jsonl is None:
            if not line.strip():
                yield Record(name, lineno, text=line)
                continue
            jsonl = line.lstrip().startswith("{")
        if not jsonl:
            yield Record(name, lineno, text=line)
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{name}:{lineno}: invalid JSON at column {err.colno}: {err.msg}"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{name}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield Record(name, lineno, data=obj)


def count_lines(path: str | Path) -> int | None:
    """Number of lines in a file (fast, for progress bars); None for stdin."""
    if str(path) == STDIN or not Path(path).is_file():
        return None
    n = 0
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return n


def parse_fields(value: str | None) -> tuple[str, ...] | None:
    """``--fields instruction,output`` -> ("instruction", "output"); None: choose per file."""
    if not value:
        return None
    fields = tuple(f.strip() for f in value.split(",") if f.strip())
    if not fields:
        raise DataError(f"--fields {value!r}: no field names given")
    return fields
