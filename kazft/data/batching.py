"""Batches: bucketed by token count, reshuffled every epoch, addressable by index.

``BatchIterator.batch(i)`` is a pure function of (examples, batch size, seed,
i): micro-batch ``i`` of an endless run of epochs. Epoch ``e`` draws its own
permutation from the seed; the permuted examples are cut into windows of
``WINDOW`` batches, each window is sorted by token count (times a random factor
in [0.9, 1.1], so similar lengths mix differently every epoch) and cut into
batches (so a batch holds examples of similar length and little padding), and
the order of the epoch's batches is shuffled again. A resumed run asks for batch
``i`` and continues exactly where it stopped. An epoch uses
``len(examples) // batch_size`` full batches; the few examples left over
differ from epoch to epoch.

Packing (``data.packing: true``, ``BatchIterator(..., packing=max_seq_length)``):
several records share a row of at most ``max_seq_length`` positions. Each
record is shifted on its own (inputs = tokens[:-1], targets = tokens[1:],
mask = mask[1:]) and the rows are the concatenations; ``Batch.segments``
numbers the records of a row 1..k (0 for padding), and the model's
block-diagonal attention mask (kazft.model.forward) keeps them apart, so a
record's loss does not depend on its row mates. The rows are made once, from
the seed: a seeded permutation of the records, stably sorted by length
(longest first), placed first-fit. Every epoch then shuffles the *rows* with
its own seed and cuts them into batches of ``batch_size`` rows (the last one
may hold fewer), so each record is trained exactly once per epoch and batch
``i`` stays a pure function of (examples, batch size, seed, i).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kazft.data.render import Example
from kazft.data.splits import STREAM_EPOCH, STREAM_VALID, rng_for
from kazft.errors import DataError

WINDOW = 16  # batches sorted together; larger: less padding, less randomness
JITTER = 0.1
PAD_ID = 0
# The random stream of the packing order (after splits.py's STREAM_* 1..3).
STREAM_PACK = 4


@dataclass
class Batch:
    inputs: np.ndarray  # (B, L) int32: tokens[:-1], padded with PAD_ID
    targets: np.ndarray  # (B, L) int32: tokens[1:], padded with PAD_ID
    mask: np.ndarray  # (B, L) float32: 1.0 where targets[b, t] is trained
    n_trained: int  # mask.sum()
    n_tokens: int  # non-pad positions of inputs
    # (B, L) int32 when packed: record number 1..k within the row, 0 for padding
    segments: np.ndarray | None = None
    # (B,) int: real (non-pad) positions of each row, which start at position 0
    lengths: np.ndarray | None = None

    @property
    def n_examples(self) -> int:
        """Records in the batch: one per row, or the records packed into each row."""
        if self.segments is None:
            return int(self.inputs.shape[0])
        return int(self.segments.max(axis=1).sum())


def make_batch(examples: list[Example], pad_multiple: int = 8) -> Batch:
    """Pad examples to a common length L, a multiple of ``pad_multiple``."""
    longest = max(len(e.tokens) - 1 for e in examples)
    L = max(pad_multiple, -(-longest // pad_multiple) * pad_multiple)
    B = len(examples)
    inputs = np.full((B, L), PAD_ID, dtype=np.int32)  # (B, L)
    targets = np.full((B, L), PAD_ID, dtype=np.int32)  # (B, L)
    mask = np.zeros((B, L), dtype=np.float32)  # (B, L)
    lengths = np.array([len(e.tokens) - 1 for e in examples], dtype=np.int64)  # (B,)
    for b, ex in enumerate(examples):
        n = int(lengths[b])
        inputs[b, :n] = ex.tokens[:-1]
        targets[b, :n] = ex.tokens[1:]
        mask[b, :n] = ex.mask[1:]
    return Batch(inputs, targets, mask, int(mask.sum()), int(lengths.sum()), lengths=lengths)


def pack_rows(rows: list[list[Example]], pad_multiple: int = 8) -> Batch:
    """One packed batch: row ``b`` concatenates the records ``rows[b]``, each
    shifted on its own, padded to a common L, a multiple of ``pad_multiple``."""
    longest = max(sum(len(e.tokens) - 1 for e in row) for row in rows)
    L = max(pad_multiple, -(-longest // pad_multiple) * pad_multiple)
    B = len(rows)
    inputs = np.full((B, L), PAD_ID, dtype=np.int32)  # (B, L)
    targets = np.full((B, L), PAD_ID, dtype=np.int32)  # (B, L)
    mask = np.zeros((B, L), dtype=np.float32)  # (B, L)
    segments = np.zeros((B, L), dtype=np.int32)  # (B, L)
    lengths = np.zeros(B, dtype=np.int64)  # (B,)
    for b, row in enumerate(rows):
        pos = 0
        for k, ex in enumerate(row, start=1):
            n = len(ex.tokens) - 1
            inputs[b, pos : pos + n] = ex.tokens[:-1]
            targets[b, pos : pos + n] = ex.tokens[1:]
            mask[b, pos : pos + n] = ex.mask[1:]
            segments[b, pos : pos + n] = k
            pos += n
        lengths[b] = pos
    return Batch(inputs, targets, mask, int(mask.sum()), int(lengths.sum()), segments, lengths)


def pack(lengths: np.ndarray, order: np.ndarray, capacity: int) -> list[np.ndarray]:
    """First-fit decreasing: the indices ``order`` (records of ``lengths``
    positions) stably sorted longest first, each put in the first row with
    room; a row holds at most ``capacity`` positions (a longer record gets a
    row of its own)."""
    order = order[np.argsort(-lengths[order], kind="stable")]
    free = np.zeros(0, dtype=np.int64)  # room left in each row
    rows: list[list[int]] = []
    for i in order:
        n = int(lengths[i])
        fits = np.flatnonzero(free >= n)
        if fits.size:
            r = int(fits[0])
            free[r] -= n
            rows[r].append(int(i))
        else:
            free = np.append(free, max(capacity - n, 0))
            rows.append([int(i)])
    return [np.array(r, dtype=np.int64) for r in rows]


class BatchIterator:
    """Micro-batch ``index`` of endless seeded epochs over ``examples``."""

    def __init__(
        self,
        examples: list[Example],
        batch_size: int,
        seed: int,
        pad_multiple: int = 8,
        packing: int | None = None,
    ):
        """``packing``: None, one record per row; otherwise the row capacity in
        positions (data.max_seq_length) and rows hold several records."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if len(examples) < batch_size:
            raise DataError(
                f"the training split has {len(examples)} example(s), fewer than "
                f"train.batch_size {batch_size}; add records or lower train.batch_size"
            )
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.pad_multiple = pad_multiple
        self._lengths = np.array([len(e.tokens) for e in examples], dtype=np.int64)
        self._epoch: tuple[int, list[np.ndarray]] | None = None
        self.packing = packing
        self._rows: list[np.ndarray] = []
        if packing is not None:
            if packing < 1:
                raise ValueError("packing capacity must be >= 1")
            order = rng_for(seed, STREAM_PACK).permutation(len(examples))
            self._rows = pack(self._lengths - 1, order, packing)

    @property
    def batches_per_epoch(self) -> int:
        if self.packing is not None:
            return -(-len(self._rows) // self.batch_size)
        return len(self.examples) // self.batch_size

    def _packed_plan(self, epoch: int) -> list[np.ndarray]:
        """Row numbers of each batch of ``epoch``: the rows reshuffled."""
        rng = rng_for(self.seed, STREAM_EPOCH, epoch)
        order = rng.permutation(len(self._rows))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def epoch_plan(self, epoch: int) -> list[np.ndarray]:
        """The example indices of each batch of ``epoch``, in order."""
        if self._epoch is not None and self._epoch[0] == epoch:
            return self._epoch[1]
        if self.packing is not None:
            self._epoch = (epoch, self._packed_plan(epoch))
            return self._epoch[1]
        rng = rng_for(self.seed, STREAM_EPOCH, epoch)
        B, nb = self.batch_size, self.batches_per_epoch
        order = rng.permutation(len(self.examples))[: nb * B]
        batches: list[np.ndarray] = []
        for w in range(0, len(order), WINDOW * B):
            window = order[w : w + WINDOW * B]
            # Sort by token count times a random factor in [1 - JITTER, 1 + JITTER]:
            # lengths within ~20 % of each other mix, so batch memberships change
            # every epoch even when the whole set fits in one window.
            jitter = rng.uniform(1.0 - JITTER, 1.0 + JITTER, size=len(window))
            window = window[np.argsort(self._lengths[window] * jitter, kind="stable")]
            batches += [window[i : i + B] for i in range(0, len(window), B)]
        plan = [batches[int(i)] for i in rng.permutation(len(batches))]
        self._epoch = (epoch, plan)
        return plan

    def batch(self, index: int) -> Batch:
        if index < 0:
            raise ValueError("batch index must be >= 0")
        epoch, pos = divmod(index, self.batches_per_epoch)
        idx = self.epoch_plan(epoch)[pos]
        if self.packing is not None:
            rows = [[self.examples[int(i)] for i in self._rows[int(r)]] for r in idx]
            return pack_rows(rows, self.pad_multiple)
        return make_batch([self.examples[int(i)] for i in idx], self.pad_multiple)


def fixed_batches(
    examples: list[Example],
    n_batches: int,
    batch_size: int,
    seed: int,
    pad_multiple: int = 8,
    packing: int | None = None,
) -> list[Batch]:
    """The same seeded validation batches on every call (all examples if fewer).

    Up to ``n_batches * batch_size`` examples are drawn with the seed, sorted by
    length and batched; the last batch may be smaller. With ``packing`` (the
    row capacity) the same examples are packed as BatchIterator packs them, in
    batches of ``batch_size`` rows: the same records, so the same loss, in
    fewer batches."""
    if not examples or n_batches < 1:
        return []
    take = rng_for(seed, STREAM_VALID).permutation(len(examples))[: n_batches * batch_size]
    if packing is not None:
        lengths = np.array([len(e.tokens) - 1 for e in examples], dtype=np.int64)
        rows = [[examples[int(i)] for i in r] for r in pack(lengths, take, packing)]
        return [
            pack_rows(rows[s : s + batch_size], pad_multiple)
            for s in range(0, len(rows), batch_size)
        ]
    lengths = np.array([len(examples[int(i)].tokens) for i in take])
    take = take[np.argsort(lengths, kind="stable")]
    return [
        make_batch([examples[int(i)] for i in take[s : s + batch_size]], pad_multiple)
        for s in range(0, len(take), batch_size)
    ]
