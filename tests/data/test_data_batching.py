"""Batches: exact padding and shift, bucketing by tokens, seeded epochs, resumable by index."""

from __future__ import annotations

import numpy as np
import pytest

from kazft.data.batching import WINDOW, BatchIterator, fixed_batches, make_batch, pack_rows
from kazft.data.render import Example
from kazft.errors import DataError


def _ex(n: int, tag: int = 0) -> Example:
    """n tokens, the second half trained; token values encode (tag, position)."""
    tokens = [2] + [1000 * tag + i for i in range(1, n)]
    mask = [i >= n // 2 for i in range(n)]
    return Example(tokens, mask, f"f.jsonl:{tag}", None)


def test_make_batch_shifts_pads_and_counts_exactly():
    a = Example([2, 10, 11, 12, 13], [False, False, False, True, True], "a", None)
    b = Example([2, 20, 21], [False, True, True], "b", None)
    batch = make_batch([a, b])
    assert batch.inputs.shape == batch.targets.shape == batch.mask.shape == (2, 8)
    assert batch.inputs.dtype == batch.targets.dtype == np.int32 and batch.mask.dtype == np.float32
    assert batch.inputs.tolist() == [[2, 10, 11, 12, 0, 0, 0, 0], [2, 20, 0, 0, 0, 0, 0, 0]]
    assert batch.targets.tolist() == [[10, 11, 12, 13, 0, 0, 0, 0], [20, 21, 0, 0, 0, 0, 0, 0]]
    assert batch.mask.tolist() == [[0, 0, 1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]]
    assert (batch.n_trained, batch.n_tokens) == (4, 6)
    assert make_batch([_ex(10)]).inputs.shape == (1, 16)  # 9 inputs -> next multiple of 8
    assert make_batch([_ex(17)]).inputs.shape == (1, 16)
    assert make_batch([_ex(10)], pad_multiple=4).inputs.shape == (1, 12)


def _examples(n: int) -> list[Example]:
    rng = np.random.default_rng(123)
    return [_ex(int(k), tag=i) for i, k in enumerate(rng.integers(5, 200, size=n))]


def _ids(batch) -> list[int]:
    return sorted(int(row[1]) // 1000 for row in batch.inputs)


def test_epochs_cover_every_example_once_and_reshuffle():
    exs = _examples(40)
    it = BatchIterator(exs, batch_size=4, seed=0)
    assert it.batches_per_epoch == 10
    epoch0 = [_ids(it.batch(i)) for i in range(10)]
    epoch1 = [_ids(it.batch(i)) for i in range(10, 20)]
    assert sorted(sum(epoch0, [])) == sorted(sum(epoch1, [])) == list(range(40))
    assert epoch0 != epoch1 and sorted(map(tuple, epoch0)) != sorted(map(tuple, epoch1))


def test_batch_is_a_pure_function_of_its_index():
    exs = _examples(37)
    a = BatchIterator(exs, batch_size=3, seed=11)
    order = [a.batch(i) for i in range(30)]
    # a resumed run: a fresh iterator asked for step 17 onwards, and in random order
    b = BatchIterator(exs, batch_size=3, seed=11)
    for i in [17, 29, 3, 12, 0, 25]:
        got = b.batch(i)
        assert np.array_equal(got.inputs, order[i].inputs) and np.array_equal(
            got.mask, order[i].mask
        )
    c = BatchIterator(exs, batch_size=3, seed=12)
    assert [_ids(c.batch(i)) for i in range(12)] != [_ids(order[i]) for i in range(12)]
    zero = BatchIterator(exs, batch_size=3, seed=0)
    assert [_ids(zero.batch(i)) for i in range(12)] != [_ids(order[i]) for i in range(12)]


def test_bucketing_is_by_token_count():
    # 32 short (10-12 tokens) and 32 long (100-120) examples: one window per epoch.
    rng = np.random.default_rng(5)
    lengths = [*rng.integers(10, 13, size=32), *rng.integers(100, 121, size=32)]
    exs = [_ex(int(n), tag=i) for i, n in enumerate(lengths)]
    assert len(exs) == 4 * WINDOW
    it = BatchIterator(exs, batch_size=4, seed=3)
    for k in range(3 * it.batches_per_epoch):
        sizes = {len(exs[i].tokens) >= 100 for i in _ids(it.batch(k))}
        assert len(sizes) == 1  # never a short example padded to a long one
    assert {it.batch(k).inputs.shape[1] for k in range(16)} <= {16, 104, 112, 120}


def test_too_few_examples_for_a_batch():
    with pytest.raises(DataError, match=r"has 2 example\(s\), fewer than train.batch_size 4"):
        BatchIterator(_examples(2), batch_size=4, seed=0)


def test_fixed_batches_are_the_same_every_call():
    exs = _examples(30)
    a = fixed_batches(exs, n_batches=4, batch_size=3, seed=0)
    b = fixed_batches(exs, n_batches=4, batch_size=3, seed=0)
    assert len(a) == 4 and all(
        np.array_equal(x.inputs, y.inputs) for x, y in zip(a, b, strict=True)
    )
    assert len({i for x in a for i in _ids(x)}) == 12
    every = fixed_batches(exs[:7], n_batches=25, batch_size=3, seed=0)
    assert [len(x.inputs) for x in every] == [3, 3, 1]
    assert sorted(i for x in every for i in _ids(x)) == list(range(7))
    assert fixed_batches([], 4, 3, 0) == []


def test_pack_rows_shifts_each_record_on_its_own():
    a = Example([2, 10, 11, 12], [False, False, True, True], "a", None)
    b = Example([2, 20, 21], [False, True, True], "b", None)
    c = Example([2, 30], [False, True], "c", None)
    batch = pack_rows([[a, b], [c]])
    assert batch.inputs.tolist() == [[2, 10, 11, 2, 20, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 0]]
    assert batch.targets.tolist() == [[10, 11, 12, 20, 21, 0, 0, 0], [30, 0, 0, 0, 0, 0, 0, 0]]
    assert batch.mask.tolist() == [[0, 1, 1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]]
    assert batch.segments is not None and batch.segments.dtype == np.int32
    assert batch.segments.tolist() == [[1, 1, 1, 2, 2, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]]
    assert (batch.n_trained, batch.n_tokens) == (5, 6)
    assert batch.n_examples == 3  # records, not rows
    assert make_batch([a]).segments is None
    assert make_batch([a, b]).n_examples == 2


def _trained(exs: list[Example]) -> list[int]:
    """Every trained target token (they encode the record and the position)."""
    return sorted(t for e in exs for t, m in zip(e.tokens[1:], e.mask[1:], strict=True) if m)


def _packed_trained(batches) -> list[int]:
    return sorted(int(t) for b in batches for t in b.targets[b.mask == 1])


def test_packed_epochs_fit_rows_and_train_every_record_once():
    exs = _examples(40)
    cap = 256
    it = BatchIterator(exs, batch_size=2, seed=5, packing=cap)
    n = it.batches_per_epoch
    assert n < 20  # fewer rows than records: they are packed
    for epoch in range(2):
        batches = [it.batch(epoch * n + i) for i in range(n)]
        for b in batches:
            assert b.segments is not None and b.inputs.shape[1] % 8 == 0
            used = (b.segments != 0).sum(axis=1)
            assert used.max() <= cap
            assert ((b.segments == 0) == (np.arange(b.inputs.shape[1]) >= used[:, None])).all()
            assert b.n_tokens == int(used.sum()) and b.n_trained == int(b.mask.sum())
        assert _packed_trained(batches) == _trained(exs)
    # the epochs order the rows differently
    assert [it.batch(i).inputs.tolist() for i in range(n)] != [
        it.batch(n + i).inputs.tolist() for i in range(n)
    ]


def test_packed_batch_is_a_pure_function_of_its_index():
    exs = _examples(37)
    a = BatchIterator(exs, batch_size=3, seed=11, packing=300)
    order = [a.batch(i) for i in range(12)]
    b = BatchIterator(exs, batch_size=3, seed=11, packing=300)
    for i in [9, 2, 11, 0, 5]:
        got = b.batch(i)
        for f in ("inputs", "targets", "mask", "segments"):
            assert np.array_equal(getattr(got, f), getattr(order[i], f)), (i, f)
    other = BatchIterator(exs, batch_size=3, seed=12, packing=300)
    assert any(
        not np.array_equal(other.batch(i).inputs, order[i].inputs) for i in range(len(order))
    )


def test_fixed_batches_pack_the_same_records():
    exs = _examples(30)
    plain = fixed_batches(exs, n_batches=4, batch_size=3, seed=2)
    packed = fixed_batches(exs, n_batches=4, batch_size=3, seed=2, packing=256)
    assert _packed_trained(packed) == _packed_trained(plain)
    assert len(packed) < len(plain)
    again = fixed_batches(exs, n_batches=4, batch_size=3, seed=2, packing=256)
    assert all(np.array_equal(x.segments, y.segments) for x, y in zip(packed, again, strict=True))
    assert all((b.segments != 0).sum(axis=1).max() <= 256 for b in packed)
