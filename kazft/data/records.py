"""Records: reading JSON Lines, detecting the format, validating every record.

Three formats, detected per file from the first usable record and enforced on
every record after it:

* ``alpaca``: ``instruction`` (text), optional ``input`` (text, may be empty),
  ``output`` (text);
* ``chat``: ``messages``, a list of ``{"role", "content"}`` with an optional
  ``system`` first, then ``user``/``assistant`` alternating, ending with
  ``assistant``;
* ``completion``: ``prompt`` and ``completion`` (text).

An optional ``category`` (text) is kept on the example; other keys are not used
and are counted in the report. A ``null`` value counts as missing (datasets
read from Parquet hold ``null`` where a row lacks a column). Windows line breaks
(CRLF) inside text become ``\\n``.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.data.render import (
    Messages,
    RecordProblem,
    input_span,
    render_prompt,
    system_messages,
)
from kazft.recipe import DataSection

FORMATS = ("alpaca", "chat", "completion")
# The keys that identify a format (a record with keys of two formats is refused).
_MARKERS = {
    "alpaca": ("instruction", "input", "output"),
    "chat": ("messages",),
    "completion": ("prompt", "completion"),
}
_USED = {
    "alpaca": {"instruction", "input", "output"},
    "chat": {"messages"},
    "completion": {"prompt", "completion"},
}
_ROLES = ("system", "user", "assistant")


@dataclass
class Record:
    """A validated record, as the messages that will be rendered."""

    location: str
    format: str
    messages: Messages  # the record's own system message, or the recipe's, first
    key: str  # the normalised prompt side, for duplicate detection
    category: str | None = None
    crlf: bool = False  # the text held Windows line breaks (now \n)
    # alpaca: the input's characters in the first user message (truncation cuts its end first)
    input_span: tuple[int, int] | None = None


@dataclass
class Problem:
    """What is wrong with one record, where: the one problem type of the data layer
    (the parsers raise :class:`RecordProblem` with the reason and message; the
    location and, in the pipeline's report, the kind and split are added here)."""

    location: str
    reason: str  # a short code used for counting, e.g. "missing_field"
    message: str
    kind: str = "skipped"  # "skipped" (bad record), "excluded" (length, duplicate), "truncated"
    split: str = ""

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class SourceRecords:
    """What one file or dataset gave: its records, and what was wrong or unused."""

    source: str
    role: str  # train, valid or test
    format: str | None = None
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unused_keys: Counter = field(default_factory=Counter)
    crlf_records: int = 0


_ARRAY_HINT = (
    "; the file looks like a JSON array: write one object per line (JSON Lines), "
    "or name it json:PATH to read it with the datasets JSON loader"
)

# --- JSON Lines ---------------------------------------------------------------------


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """(``file:line``, parsed object or RecordProblem) for every non-blank line.

    Lines are split on ``\\n`` only (a U+2028 inside a string is text, not a
    line break); a trailing ``\\r`` and a UTF-8 byte-order mark are removed."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RecordProblem("unreadable", f"cannot read the file ({err.strerror or err})") from None
    first = True
    for n, raw in enumerate(data.split(b"\n"), start=1):
        loc = f"{path}:{n}"
        raw = raw.removesuffix(b"\r").removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield (
                loc,
                RecordProblem(
                    "invalid_utf8",
                    f"not valid UTF-8 (byte 0x{raw[err.start]:02X} at byte {err.start + 1} "
                    "of the line); save the file as UTF-8",
                ),
            )
            first = False
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            hint = ""
            if first and text.lstrip().startswith("["):
                hint = _ARRAY_HINT
            elif text.strip() in ("{", "}"):
                hint = "; each record must be one JSON object on one line (JSON Lines)"
            first = False
            yield (
                loc,
                RecordProblem(
                    "malformed_json", f"not valid JSON ({err.msg} at column {err.colno}){hint}"
                ),
            )
            continue
        if first and isinstance(obj, list):
            obj = RecordProblem("not_object", f"not a JSON object (got a list){_ARRAY_HINT}")
        first = False
        yield loc, obj


# --- validation ---------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _text(
    obj: dict, key: str, *, required: bool = True, empty_ok: bool = False, what: str | None = None
) -> str:
    name = what or f"field '{key}'"
    value = obj.get(key)
    if value is None:
        if required:
            raise RecordProblem("missing_field", f"{name} is missing")
        return ""
    if not isinstance(value, str):
        raise RecordProblem(
            "wrong_type", f"{name} must be text (a JSON string), got {_type_name(value)}"
        )
    if not empty_ok and not value.strip():
        reason = "empty_output" if key in ("output", "completion") else "empty_field"
        raise RecordProblem(reason, f"{name} is empty")
    return value


def normalise_key(*parts: str) -> str:
    """NFC, whitespace runs to one space, stripped; parts joined by U+001F."""
    return "\x1f".join(" ".join(unicodedata.normalize("NFC", p).split()) for p in parts)


def detect_format(obj: dict) -> str:
    found = [f for f, keys in _MARKERS.items() if any(obj.get(k) is not None for k in keys)]
    if len(found) == 1:
        return found[0]
    if not found:
        got = ", ".join(sorted(obj)) or "none"
        raise RecordProblem(
            "unknown_format",
            "not a record kazft knows: expected instruction/input/output "
            f"(alpaca), messages (chat) or prompt/completion (completion); got keys: {got}",
        )
    raise RecordProblem(
        "mixed_formats", f"the record has keys of two formats ({' and '.join(found)})"
    )


def _chat(obj: dict, data: DataSection) -> tuple[Messages, str]:
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        what = "an empty list" if isinstance(msgs, list) else _type_name(msgs)
        raise RecordProblem(
            "wrong_type",
            "field 'messages' must be a non-empty list of "
            f'{{"role", "content"}} objects, got {what}',
        )
    out: Messages = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise RecordProblem(
                "wrong_type", f"messages[{i}] must be an object, got {_type_name(m)}"
            )
        role = m.get("role")
        if role not in _ROLES:
            raise RecordProblem(
                "bad_role",
                f"messages[{i}]: role must be one of system, user, assistant (got {role!r})",
            )
        where = f"messages[{i}] ({role}) content"
        content = _text(m, "content", what=where)
        out.append({"role": role, "content": content})
    body = out[1:] if out[0]["role"] == "system" else out
    for i, m in enumerate(body):
        want = "user" if i % 2 == 0 else "assistant"
        if m["role"] != want:
            at = i + (len(out) - len(body))
            prev = (
                f"after {body[i - 1]['role']}" if i else "first (after an optional system message)"
            )
            raise RecordProblem(
                "roles",
                f"roles must alternate user/assistant after an optional system message: "
                f"messages[{at}] is {m['role']} {prev}, expected {want}",
            )
    if not body or body[-1]["role"] != "assistant":
        raise RecordProblem(
            "roles",
            "the conversation must end with an assistant message "
            "(only assistant turns are trained)",
        )
    if out[0]["role"] != "system":
        out = [*system_messages(data), *out]
    key = normalise_key(*(m["content"] for m in out if m["role"] == "user"))
    return out, key


def parse_record(obj: Any, location: str, data: DataSection, fmt: str | None) -> Record:
    """Validate one parsed record; ``fmt`` is the format it must have (None: any)."""
    rec = _parse(obj, location, data, fmt)
    for m in rec.messages:
        if "\r\n" in m["content"]:
            if rec.input_span is not None and m["role"] == "user":
                a, b = rec.input_span  # each \r\n before a position becomes one character
                rec.input_span = (
                    a - m["content"].count("\r\n", 0, a),
                    b - m["content"].count("\r\n", 0, b),
                )
            m["content"] = m["content"].replace("\r\n", "\n")
            rec.crlf = True
    return rec


def _parse(obj: Any, location: str, data: DataSection, fmt: str | None) -> Record:
    if not isinstance(obj, dict):
        raise RecordProblem("not_object", f"not a JSON object (got {_type_name(obj)})")
    found = detect_format(obj)
    if fmt is not None and found != fmt:
        raise RecordProblem(
            "mixed_formats", f"the record is {found}, but this source holds {fmt} records"
        )
    category = _text(obj, "category", required=False, empty_ok=True) or None
    if found == "alpaca":
        instruction = _text(obj, "instruction")
        inp = _text(obj, "input", required=False, empty_ok=True)
        output = _text(obj, "output")
        if inp.strip() and "{input}" not in data.prompt_template:
            raise RecordProblem(
                "input_unused",
                "field 'input' is not empty but data.prompt_template "
                "has no {input}, so it would be left out; add {input} to the template",
            )
        user = render_prompt(data.prompt_template, instruction, inp)
        msgs = [
            *system_messages(data),
            {"role": "user", "content": user},
            {"role": "assistant", "content": output},
        ]
        span = input_span(data.prompt_template, instruction, inp)
        return Record(
            location, found, msgs, normalise_key(instruction, inp), category, input_span=span
        )
    if found == "completion":
        prompt, completion = _text(obj, "prompt"), _text(obj, "completion")
        msgs = [
            *system_messages(data),
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion},
        ]
        return Record(location, found, msgs, normalise_key(prompt), category)
    msgs, key = _chat(obj, data)
    return Record(location, found, msgs, key, category)


def validate_rows(
    rows: Iterator[tuple[str, Any]], result: SourceRecords, data: DataSection
) -> None:
    """Parse every row into ``result``: records, problems, unused keys.

    The source's format is the recipe's ``data.format``, or (auto) the format of
    its first usable record; a record of another format is a problem."""
    fmt = None if data.format == "auto" else data.format
    first_at = ""
    for loc, obj in rows:
        if isinstance(obj, RecordProblem):
            result.problems.append(Problem(loc, obj.reason, obj.message))
            continue
        try:
            rec = parse_record(obj, loc, data, fmt or result.format)
        except RecordProblem as p:
            msg = p.message
            if p.reason == "mixed_formats" and result.format and first_at:
                msg += f" (from its first record, {first_at}); one file holds one format"
            elif p.reason == "mixed_formats" and fmt:
                msg += " (data.format)"
            result.problems.append(Problem(loc, p.reason, msg))
            continue
        if result.format is None:
            result.format, first_at = rec.format, loc
        for k in obj:
            if k not in _USED[rec.format] and k != "category":
                result.unused_keys[k] += 1
        if rec.format == "chat":
            for m in obj["messages"]:
                for k in m:
                    if k not in ("role", "content"):
                        result.unused_keys[f"messages[].{k}"] += 1
        result.crlf_records += rec.crlf
        result.records.append(rec)
