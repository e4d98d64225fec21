"""The statistics against values computed by hand (or published worked examples)."""

from __future__ import annotations

import pytest

from kazft.review.stats import (
    bootstrap_mean,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    wilson,
)


def test_wilson_interval_by_hand():
    # 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10), half-width z*sqrt(.016 + z^2/400) / (1 + z^2/10)
    e = wilson(8, 10)
    assert e.value == 0.8
    assert e.low == pytest.approx(0.4902, abs=1e-4)
    assert e.high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0).value is None
    zero = wilson(0, 5)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.4345, abs=1e-4)


def test_cohen_kappa_by_hand():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> po 0.7, pe 0.5, kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["y", "y"], ["y", "y"]) is None  # one category only: undefined


def test_fleiss_kappa_worked_example():
    # Fleiss' kappa's standard worked example: 10 items, 14 raters, 5 categories -> 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 1], [2, 1]])


def test_krippendorff_alpha_by_hand():
    # 2 raters, 4 items, values (1,1) (1,1) (2,2) (2,1): o11=4, o22=2, o12=o21=1,
    # n1=5, n2=3, n=8 -> alpha = 1 - (n-1)(o12+o21) / (2 n1 n2) = 1 - 14/30
    units = [[1, 1, 2, 2], [1, 1, 2, 1]]
    assert krippendorff_alpha(units, "nominal") == pytest.approx(1 - 14 / 30)
    # A missing rating leaves its item out of the pairs: the same data plus a lone value.
    assert krippendorff_alpha([[1, 1, 2, 2, 1], [1, 1, 2, 1, None]]) == pytest.approx(1 - 14 / 30)
    assert krippendorff_alpha([[1, 2], [None, None]]) is None  # nothing rated twice


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = [1, 2, 3, 4, 5, 2, 3, 4]
    a, b = bootstrap_mean(x, seed=3), bootstrap_mean(x, seed=3)
    assert a == b
    assert a.value == pytest.approx(3.0)
    assert a.low < a.value < a.high
    assert bootstrap_mean([], seed=0).value is None
