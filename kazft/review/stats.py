"""Intervals and agreement for human ratings: Wilson, bootstrap, Cohen, Fleiss, Krippendorff.

Wilson's score interval and the two kappas are a few lines each and written here
(statsmodels would add a large dependency for them); Krippendorff's alpha, whose
coincidence-matrix arithmetic is easy to get subtly wrong, comes from the
maintained ``krippendorff`` package. Every function is checked against values
computed by hand in tests/review/test_stats.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class Estimate:
    value: float | None  # None: no data
    low: float | None
    high: float | None
    n: int

    def fmt(self, percent: bool = True) -> str:
        if self.value is None or self.low is None or self.high is None:
            return "–"
        if percent:
            return f"{self.value:.0%} [{self.low:.0%}, {self.high:.0%}] (n={self.n})"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}] (n={self.n})"


def wilson(successes: int, n: int, z: float = Z95) -> Estimate:
    """A proportion with Wilson's score interval (sound at small n and near 0 or 1)."""
    if n == 0:
        return Estimate(None, None, None, 0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def bootstrap_mean(
    values: Sequence[float], seed: int = 0, resamples: int = 2000, level: float = 0.95
) -> Estimate:
    """The mean with a percentile bootstrap interval (seeded: the same data, the same interval)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Estimate(None, None, None, 0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return Estimate(float(x.mean()), float(lo), float(hi), int(x.size))


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items (None when undefined)."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected == 1.0:
        return None  # both raters used a single category: agreement cannot be told from chance
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from an items x categories table of rating counts (same raters per item)."""
    table = np.asarray(counts, dtype=float)
    if table.size == 0:
        return None
    per_item = table.sum(axis=1)
    if not np.all(per_item == per_item[0]) or per_item[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings per item")
    n, m = table.shape[0], per_item[0]
    p_item = ((table * (table - 1)).sum(axis=1)) / (m * (m - 1))
    p_bar = p_item.mean()
    p_cat = table.sum(axis=0) / (n * m)
    p_e = float((p_cat**2).sum())
    if p_e == 1.0:
        return None
    return float((p_bar - p_e) / (1 - p_e))


Level = Literal["nominal", "ordinal", "interval"]


def krippendorff_alpha(
    units: Sequence[Sequence[float | None]], level: Level = "nominal"
) -> float | None:
    """Krippendorff's alpha; ``units`` is raters x items, None where a rater did not rate.

    ``level``: nominal (preferences), ordinal (accuracy wrong < partly < correct,
    completeness 1-5) or interval."""
    import krippendorff

    data = np.array(
        [[np.nan if v is None else float(v) for v in row] for row in units], dtype=float
    )
    # alpha needs at least one item rated twice and more than one value in use.
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).sum()
    values = np.unique(data[~np.isnan(data)])
    if pairable == 0 or values.size < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
