"""MinHash signatures over character n-grams, and an LSH index to find candidates.

Character n-grams (not words) because Kazakh is agglutinative: two copies of
a sentence that differ in one suffix share most character 5-grams but few
words. Hashing is vectorised with numpy and seeded, so results are the same
on every run and platform (Python's own ``hash`` is salted per process).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

MERSENNE = np.uint64((1 << 61) - 1)
MASK32 = np.uint64(0xFFFFFFFF)
_BASE = np.uint64(1_000_003)
_CHUNK = 4096
_SPACE_RE = re.compile(r"\s+")


def canonical(text: str) -> str:
    """The text compared for duplicates: NFC, case-folded, whitespace collapsed."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFC", text)).strip().casefold()


class MinHasher:
    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 1) -> None:
        if num_perm < 8:
            raise ValueError("num_perm must be at least 8")
        if ngram < 1:
            raise ValueError("ngram must be at least 1")
        self.num_perm = num_perm
        self.ngram = ngram
        rng = np.random.default_rng(seed)
        # a, b < 2**32 keep a*h + b below 2**64 for 32-bit h: no overflow.
        self.a = rng.integers(1, 1 << 32, size=(num_perm, 1), dtype=np.uint64)
        self.b = rng.integers(0, 1 << 32, size=(num_perm, 1), dtype=np.uint64)

    def shingles(self, text: str) -> np.ndarray:
        """Distinct 32-bit hashes of the character n-grams of ``text``."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        n = min(self.ngram, len(codes))
        if n == 0:
            return np.zeros(1, dtype=np.uint64)
        count = len(codes) - n + 1
        h = np.zeros(count, dtype=np.uint64)
        for k in range(n):
            h = (h * _BASE + codes[k : k + count]) & MASK32
        return np.unique(h)

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature (``num_perm`` uint64) of ``text``."""
        sh = self.shingles(text)
        sig = np.full(self.num_perm, MERSENNE, dtype=np.uint64)
        for start in range(0, len(sh), _CHUNK):
            part = sh[start : start + _CHUNK][None, :]
            sig = np.minimum(sig, ((self.a * part + self.b) % MERSENNE).min(axis=1))
        return sig


def similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the two n-gram sets."""
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def _area(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid rule (np.trapezoid is numpy 2 only, np.trapz gone in 2.x)."""
    if len(x) < 2:
        return 0.0
    return float(np.sum((y[1:] + y[:-1]) / 2.0 * np.diff(x)))


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising false positives + false negatives around ``threshold``.

    Candidates are verified against the threshold afterwards, so misses cost
    more than extra candidates: false negatives weigh twice.
    """
    xs = np.linspace(0.0, 1.0, 201)
    best, best_cost = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            prob = 1.0 - (1.0 - xs**rows) ** bands
            low, high = xs < threshold, xs >= threshold
            fp = _area(prob[low], xs[low])
            fn = _area(1.0 - prob[high], xs[high])
            cost = fp + 2.0 * fn
            if cost < best_cost:
                best, best_cost = (bands, rows), cost
    return best


class LSHIndex:
    """Banded LSH over MinHash signatures; ``query`` returns candidate ids."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        self.bands, self.rows = lsh_params(round(threshold, 4), num_perm)
        self.tables: list[dict[bytes, list[int]]] = [{} for _ in range(self.bands)]

    def _keys(self, sig: np.ndarray) -> list[bytes]:
        r = self.rows
        return [sig[i * r : (i + 1) * r].tobytes() for i in range(self.bands)]

    def query(self, sig: np.ndarray) -> set[int]:
        found: set[int] = set()
        for table, key in zip(self.tables, self._keys(sig), strict=True):
            found.update(table.get(key, ()))
        return found

    def insert(self, item: int, sig: np.ndarray) -> None:
        for table, key in zip(self.tables, self._keys(sig), strict=True):
            table.setdefault(key, []).append(item)
