"""What the data pipeline measured (``kazft data check`` prints it: kazft.cli.data_report).

Every number here is counted from the prepared data: records per split,
formats, token lengths (percentiles by nearest rank, and the maximum), records
truncated, excluded and skipped with reasons and locations, duplicate
prompts, the fraction of tokens that are trained, and one rendered example
with the trained tokens shown apart from the masked ones.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kazft.data.records import Problem


@dataclass
class SourceInfo:
    source: str
    role: str
    format: str
    records: int
    skipped: int
    unused_keys: dict[str, int]
    crlf_records: int = 0


@dataclass
class SplitStats:
    name: str
    records: int  # valid records assigned to the split
    examples: int  # examples that will be trained or evaluated on
    tokens: int
    trained: int
    p50: int
    p90: int
    p99: int
    max: int
    truncated: int
    categories: dict[str, int]

    @property
    def left_out(self) -> int:
        """Records of the split that did not become examples (excluded or bad)."""
        return self.records - self.examples

    @property
    def trained_fraction(self) -> float:
        return self.trained / self.tokens if self.tokens else 0.0


@dataclass
class DataReport:
    max_seq_length: int
    truncation: str
    on_bad_record: str
    sources: list[SourceInfo] = field(default_factory=list)
    split_mode: str = ""
    splits: dict[str, SplitStats] = field(default_factory=dict)
    issues: list[Problem] = field(default_factory=list)  # skipped, excluded, truncated
    duplicates: list[list[str]] = field(default_factory=list)  # locations per group
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str) -> Counter:
        return Counter(i.reason for i in self.issues if i.kind == kind)


def segments(tokens: list[int], mask: list[bool]) -> list[tuple[bool, list[int]]]:
    """Runs of equal mask value: [(trained, ids), ...] in order."""
    runs: list[tuple[bool, list[int]]] = []
    for t, m in zip(tokens, mask, strict=True):
        if runs and runs[-1][0] == m:
            runs[-1][1].append(t)
        else:
            runs.append((m, [t]))
    return runs


MAX_LOCATIONS = 5  # per reason, unless all_locations


def compact_locations(locations: list[str]) -> str:
    """``a.jsonl:1, a.jsonl:4, b.jsonl:2`` -> ``a.jsonl:1, 4; b.jsonl:2``."""
    parts: list[tuple[str, list[str]]] = []
    for loc in locations:
        head, sep, tail = loc.rpartition(":")
        if not sep:
            head, tail = loc, ""
        if parts and parts[-1][0] == head:
            parts[-1][1].append(tail)
        else:
            parts.append((head, [tail]))
    return "; ".join(f"{h}:{', '.join(t)}" if t != [""] else h for h, t in parts)
