"""Exact and near-duplicate removal within and across train/valid/test sets.

Records are visited in priority order (test, then valid, then train; files
and lines in order) and each is compared with the records kept so far, so the
copy that survives is the one in the set that matters most for evaluation: a
training record that repeats a test record is dropped from train, never the
test record. Greedy comparison against kept records (not union-find) keeps
clusters from chaining A~B~C into one when A and C differ.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.errors import DataError
from kazft.text.minhash import LSHIndex, MinHasher, canonical, similarity
from kazft.text.output import atomic_output
from kazft.text.progress import progress
from kazft.text.records import TEXT_FIELDS, count_lines, read_records

SET_PRIORITY = ("test", "valid", "train")


@dataclass
class DedupSource:
    """One input file, the set it belongs to, and where its kept records go."""

    set_name: str
    path: Path
    output: Path | str | None
    kept: set[int] = field(default_factory=set)
    stats: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, int]:
        """Records read, removed by kind, and kept (empty records are always kept)."""
        keys = ("records", "exact", "near", "cross_set", "kept")
        return {k: self.stats[k] for k in keys}


@dataclass
class Cluster:
    kept: str
    members: list[dict[str, Any]] = field(default_factory=list)


class Deduplicator:
    def __init__(
        self,
        threshold: float = 0.8,
        ngram: int = 5,
        num_perm: int = 128,
        fields: tuple[str, ...] = TEXT_FIELDS,
        near: bool = True,
        encoding: str = "utf-8",
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise DataError(f"--threshold {threshold}: must be in (0, 1]")
        if ngram < 1 or num_perm < 8:
            raise DataError(
                f"--ngram {ngram} / --num-perm {num_perm}: need ngram >= 1, num-perm >= 8"
            )
        self.threshold = threshold
        self.fields = fields
        self.near = near
        self.encoding = encoding
        self.hasher = MinHasher(num_perm=num_perm, ngram=ngram)
        self.index = LSHIndex(threshold, num_perm)
        self.exact: dict[str, int] = {}
        self.signatures: list[Any] = []
        self.names: list[str] = []
        self.owners: list[DedupSource] = []
        self.clusters: dict[int, Cluster] = {}

    def _visit(self, src: DedupSource, advance: Any) -> None:
        for rec in read_records(src.path, self.encoding):
            advance(1)
            src.stats["records"] += 1
            text = canonical(rec.joined(self.fields))
            if not text:
                src.stats["empty"] += 1
                src.kept.add(rec.line)
                continue
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
            if digest in self.exact:
                self._remove(src, rec.where, self.exact[digest], "exact", 1.0)
                continue
            sig = self.hasher.signature(text) if self.near else None
            if sig is not None:
                best, best_sim = -1, 0.0
                for cand in self.index.query(sig):
                    sim = similarity(sig, self.signatures[cand])
                    if sim >= self.threshold and (
                        sim > best_sim or (sim == best_sim and cand < best)
                    ):
                        best, best_sim = cand, sim
                if best >= 0:
                    self._remove(src, rec.where, best, "near", best_sim)
                    continue
            ident = len(self.names)
            self.names.append(rec.where)
            self.owners.append(src)
            self.signatures.append(sig)
            self.exact[digest] = ident
            if sig is not None:
                self.index.insert(ident, sig)
            src.kept.add(rec.line)

    def _remove(self, src: DedupSource, where: str, kept: int, kind: str, sim: float) -> None:
        # Another file of the same set (two train shards) counts as within-set.
        cross = self.owners[kept].set_name != src.set_name
        src.stats["cross_set" if cross else kind] += 1
        cluster = self.clusters.setdefault(kept, Cluster(self.names[kept]))
        cluster.members.append({"record": where, "kind": kind, "similarity": round(sim, 3)})

    def run(self, sources: list[DedupSource]) -> None:
        order = sorted(sources, key=lambda s: SET_PRIORITY.index(s.set_name))
        total = sum(count_lines(s.path) or 0 for s in sources)
        with progress("deduplicating", total) as advance:
            for src in order:
                self._visit(src, advance)
        for src in sources:
            src.stats["kept"] = len(src.kept)

    def cluster_rows(self) -> Iterator[dict[str, Any]]:
        for n, (_, cl) in enumerate(sorted(self.clusters.items()), 1):
            yield {"cluster": n, "kept": cl.kept, "removed": cl.members}


def write_outputs(sources: list[DedupSource], encoding: str = "utf-8") -> None:
    """Write every source's kept records; all outputs appear together or not at all."""
    with ExitStack() as stack:
        for src in sources:
            out = stack.enter_context(atomic_output(src.output))
            for rec in read_records(src.path, encoding):
                if rec.line in src.kept:
                    out.write(rec.dumps() + "\n")
