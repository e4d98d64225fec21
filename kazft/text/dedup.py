"""Exact and near-duplicate removal within and across train/valid/test sets.

Near duplicates are found with datasketch's MinHash and LSH over character
n-grams, then every candidate pair is confirmed by its exact Jaccard
similarity (the n-gram sets compared directly, no estimate) before a record is
removed: MinHash only proposes, the exact similarity decides. Character n-grams
(not words) because Kazakh is agglutinative: two copies of a sentence that
differ in one suffix share most character 5-grams but few words.

Records are visited in priority order (test, then valid, then train; files
and lines in order) and each is compared with the records kept so far, so the
copy that survives is the one in the set that matters most for evaluation: a
training record that repeats a test record is dropped from train, never the
test record. Greedy comparison against kept records (not union-find) keeps
clusters from chaining A~B~C into one when A and C differ.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasketch import MinHash, MinHashLSH

from kazft.errors import DataError
from kazft.text.output import atomic_output
from kazft.text.progress import progress
from kazft.text.records import FieldChoice, count_lines, read_records

SET_PRIORITY = ("test", "valid", "train")
SEED = 1
# LSH may miss a pair at exactly the threshold with at most this probability;
# pairs above it are missed far less often. Extra candidates cost only time.
MAX_MISS = 0.01
_SPACE_RE = re.compile(r"\s+")


def canonical(text: str) -> str:
    """The text compared for duplicates: NFC, case-folded, whitespace collapsed."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFC", text)).strip().casefold()


def shingles(text: str, ngram: int = 5) -> set[str]:
    """The set of character n-grams of ``text`` (the whole text when shorter)."""
    if len(text) <= ngram:
        return {text}
    return {text[i : i + ngram] for i in range(len(text) - ngram + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two n-gram sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with the fewest spurious candidates that still catch a pair at
    ``threshold`` with probability >= 1 - MAX_MISS (more rows = fewer candidates)."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if (1.0 - threshold**rows) ** bands <= MAX_MISS:
            best = (bands, rows)
    return best


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
        fields: tuple[str, ...] | None = None,
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
        self.ngram = ngram
        self.num_perm = num_perm
        self.fields = fields
        self.near = near
        self.encoding = encoding
        self.lsh = MinHashLSH(num_perm=num_perm, params=lsh_bands(threshold, num_perm))
        # One seeded set of permutations, shared by every signature.
        self._perms = MinHash(num_perm=num_perm, seed=SEED).permutations
        self.exact: dict[str, int] = {}
        self.texts: list[str] = []
        self.names: list[str] = []
        self.owners: list[DedupSource] = []
        self.clusters: dict[int, Cluster] = {}
        self.candidates = 0
        self.rejected = 0
        self.field_choices: list[FieldChoice] = []

    def signature(self, grams: set[str]) -> MinHash:
        mh = MinHash(num_perm=self.num_perm, seed=SEED, permutations=self._perms, scheme="affine32")
        mh.update_batch([g.encode("utf-8") for g in grams])
        return mh

    def _best_match(self, grams: set[str], sig: MinHash) -> tuple[int, float]:
        """The kept record most similar to ``grams`` by exact Jaccard, if >= threshold."""
        best, best_sim = -1, 0.0
        for cand in sorted(self.lsh.query(sig)):
            self.candidates += 1
            sim = jaccard(grams, shingles(self.texts[cand], self.ngram))
            if sim < self.threshold:
                self.rejected += 1
            elif sim > best_sim:
                best, best_sim = cand, sim
        return best, best_sim

    def _visit(self, src: DedupSource, advance: Any) -> None:
        choice = FieldChoice(self.fields, str(src.path))
        self.field_choices.append(choice)
        for rec in read_records(src.path, self.encoding):
            advance(1)
            src.stats["records"] += 1
            text = canonical(rec.joined(choice.pick(rec)))
            if not text:
                src.stats["empty"] += 1
                src.kept.add(rec.line)
                continue
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
            if digest in self.exact:
                self._remove(src, rec.where, self.exact[digest], "exact", 1.0)
                continue
            sig = None
            if self.near:
                grams = shingles(text, self.ngram)
                sig = self.signature(grams)
                best, best_sim = self._best_match(grams, sig)
                if best >= 0:
                    self._remove(src, rec.where, best, "near", best_sim)
                    continue
            ident = len(self.names)
            self.names.append(rec.where)
            self.owners.append(src)
            self.texts.append(text if self.near else "")
            self.exact[digest] = ident
            if sig is not None:
                self.lsh.insert(ident, sig, check_duplication=False)
            src.kept.add(rec.line)
        choice.check()

    def _remove(self, src: DedupSource, where: str, kept: int, kind: str, sim: float) -> None:
        # Another file of the same set (two train shards) counts as within-set.
        cross = self.owners[kept].set_name != src.set_name
        src.stats["cross_set" if cross else kind] += 1
        cluster = self.clusters.setdefault(kept, Cluster(self.names[kept]))
        cluster.members.append({"record": where, "kind": kind, "similarity": round(sim, 4)})

    def run(self, sources: list[DedupSource]) -> None:
        order = sorted(sources, key=lambda s: SET_PRIORITY.index(s.set_name))
        total = sum(count_lines(s.path) or 0 for s in sources)
        with progress("deduplicating", total) as advance:
            for src in order:
                self._visit(src, advance)
        for src in sources:
            src.stats["kept"] = len(src.kept)

    def cluster_rows(self) -> Iterator[dict[str, Any]]:
        """One row per cluster: the kept record and each removed one with its exact
        similarity to it (1.0 for exact copies)."""
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
