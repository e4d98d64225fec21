"""Dataset statistics: counts by category, script and language; length distributions.

Percentiles use the nearest-rank method (always an observed value), so the
numbers are exact and reproducible, and small test sets give small integers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kazft.text.language import detect_language
from kazft.text.progress import track
from kazft.text.records import TEXT_FIELDS, FieldChoice, count_lines, read_records
from kazft.text.script import detect_script

NO_CATEGORY = "(none)"
PERCENTILES = (50, 90, 99)
WORD_COUNT_RE = re.compile(r"\w+")


def percentile(sorted_values: list[int], p: float) -> int:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def length_summary(values: list[int]) -> dict[str, float]:
    vals = sorted(values)
    if not vals:
        return {"count": 0}
    out: dict[str, float] = {"count": len(vals), "min": vals[0]}
    for p in PERCENTILES:
        out[f"p{p}"] = percentile(vals, p)
    out["max"] = vals[-1]
    out["mean"] = round(sum(vals) / len(vals), 1)
    return out


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


class StatsCollector:
    """Accumulates statistics record by record."""

    def __init__(
        self,
        fields: tuple[str, ...] = TEXT_FIELDS,
        detect: bool = True,
        per_text: Callable[[str], None] | None = None,
    ) -> None:
        self.fields = fields
        self.field_choice: FieldChoice | None = None
        self.detect = detect
        self.per_text = per_text
        self.records = 0
        self.categories: Counter[str] = Counter()
        self.scripts: Counter[str] = Counter()
        self.languages: Counter[str] = Counter()
        self.chars: dict[str, list[int]] = {}
        self.words: dict[str, list[int]] = {}
        self.total_chars: list[int] = []

    def add(self, fields: dict[str, str], category: str | None) -> None:
        self.records += 1
        self.categories[category or NO_CATEGORY] += 1
        for name, text in fields.items():
            self.chars.setdefault(name, []).append(len(text))
            self.words.setdefault(name, []).append(len(WORD_COUNT_RE.findall(text)))
            if self.per_text is not None:
                self.per_text(text)
        joined = "\n".join(t for t in fields.values() if t)
        self.total_chars.append(len(joined))
        if self.detect:
            script = detect_script(joined)
            self.scripts[script.script] += 1
            self.languages[detect_language(joined, script).language] += 1

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"records": self.records}
        if self.field_choice is not None:
            out["fields"] = self.field_choice.describe()
            out["records_without_fields"] = self.field_choice.missing
        out["categories"] = _ranked(self.categories)
        if self.detect:
            out["scripts"] = _ranked(self.scripts)
            out["languages"] = _ranked(self.languages)
        out["lengths"] = {
            name: {
                "chars": length_summary(self.chars[name]),
                "words": length_summary(self.words[name]),
            }
            for name in self.chars
        }
        return out


def collect_stats(
    path: str | Path,
    fields: tuple[str, ...] | None = None,
    encoding: str = "utf-8",
    detect: bool = True,
    per_text: Callable[[str], None] | None = None,
) -> StatsCollector:
    """Read ``path`` (kazft JSONL or text) and return the filled collector.

    ``fields=None`` reads the layout the file uses (see FieldChoice)."""
    choice = FieldChoice(fields, str(path))
    col = StatsCollector(fields or TEXT_FIELDS, detect, per_text)
    col.field_choice = choice
    for rec in track(read_records(path, encoding), "counting", count_lines(path)):
        if rec.data is None:
            if not (rec.text or "").strip():
                continue
            col.add({"text": rec.text or ""}, None)
            continue
        picked = choice.pick(rec)
        texts = {f: "\n".join(t) for f in picked if (t := rec.texts((f,)))}
        category = rec.data.get("category")
        col.add(texts, str(category) if category not in (None, "") else None)
    choice.check()
    return col
