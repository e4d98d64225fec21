"""Train/valid/test splits that are seeded, exact and leak-free.

Records are grouped by their duplicate key (the prompt side after NFC and
whitespace normalisation: instruction + input, the user turns of a chat, or
the prompt); a group always lands in one split, so the same question never
straddles train and valid. Groups are ordered by a permutation drawn from the
recipe's seed, and filled into test, then valid, until each holds its share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kazft.errors import DataError

# Independent random streams from one recipe seed: the split never moves when
# the batch order changes, and the other way round.
STREAM_SPLIT, STREAM_EPOCH, STREAM_VALID = 1, 2, 3


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """A generator for ``stream`` under the recipe's seed (any int, negative too)."""
    return np.random.default_rng([seed % 2**64, *stream])


def group_by_key(keys: list[str]) -> list[list[int]]:
    """Indices grouped by equal key, groups in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return list(groups.values())


@dataclass
class SplitResult:
    train: list[int]
    valid: list[int]
    test: list[int]
    duplicate_groups: list[list[int]]  # groups of more than one record


def _share(n: int, fraction: float) -> int:
    # At least one record for any non-zero fraction: a 0.1 split of 7 records
    # must still give a validation set.
    return 0 if fraction <= 0 else max(1, round(n * fraction))


def seeded_split(keys: list[str], valid: float, test: float, seed: int) -> SplitResult:
    """Split record indices into train/valid/test by key groups (see the module docstring)."""
    groups = group_by_key(keys)
    n = len(keys)
    want_test, want_valid = _share(n, test), _share(n, valid)
    order = rng_for(seed, STREAM_SPLIT).permutation(len(groups))
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    for g in order:
        members = groups[int(g)]
        if len(parts["test"]) < want_test:
            parts["test"] += members
        elif len(parts["valid"]) < want_valid:
            parts["valid"] += members
        else:
            parts["train"] += members
    if not parts["train"]:
        raise DataError(
            f"{n} record(s) in {len(groups)} distinct prompt(s) are too few to split "
            f"(data.split.valid {valid}, data.split.test {test}) and keep any for training; "
            "add records, lower the fractions, or give data.valid files"
        )
    dups = [g for g in groups if len(g) > 1]
    return SplitResult(sorted(parts["train"]), sorted(parts["valid"]), sorted(parts["test"]), dups)
