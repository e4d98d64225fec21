"""Skip the frozen layers after the first epoch: their output, cached on disk.

LoRA adapts the top decoder layers only (the legal recipe: the last 16 of
Gemma 3 4B's 34). The layers below the first LoRA layer have no adapter and no
dropout, so for a given row of token ids the hidden state entering the first
LoRA layer is the same in every epoch. With ``train.frozen_cache`` on, every
batch row (a record, or a packed row) gets that hidden state from
kazft.train.frozen_store: the first time it is computed (embedding with Gemma
3's sqrt(hidden) scale, then the frozen layers with the same sliding-window,
global and packing masks as the full forward) and written; from then on it is
read, and the step's forward starts at the first LoRA layer
(``loss_fn(..., start=k)``), drawing the frozen layers' dropout keys as if they
had run so every later dropout mask is unchanged.

Exactness: on the CPU a row's hidden state does not depend on its batch mates
or the padded length (tests/train/test_frozen_cache.py checks losses and the
final adapter bit for bit against a run without the cache, fresh and resumed).
Padding positions read back as zeros; no real position attends to them, and
their loss is masked out, so they change nothing.

Policy (``train.frozen_cache``): ``off``; ``on``; ``auto`` (default): on when
the run covers more than one epoch, the first LoRA layer is above layer 0, and
the expected size fits ``train.frozen_cache_gb`` and the free disk. The cache
lives in OUTPUT/frozen_cache/ and is removed when the run completes (an
interrupted run keeps it for --resume).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from kazft.model.forward import embed, first_adapted_layer, frozen_prefix, text_model
from kazft.train.frozen_store import DTYPES, FrozenStore

GB = 1000**3
FOLDER = "frozen_cache"
HEADER_BYTES = 256  # a file's SafeTensors header, about (for the estimate)


def size_text(n: int) -> str:
    """Bytes as a short decimal size: 512 B, 3.4 MB, 10.6 GB."""
    for unit, scale in (("GB", GB), ("MB", 1000**2), ("kB", 1000)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@dataclass
class CachePlan:
    on: bool
    why: str  # the reason, for the log
    start: int  # first LoRA layer: the cached state enters it
    expected: int  # bytes the entries will take
    limit: int  # train.frozen_cache_gb in bytes
    epochs: float  # epochs the run covers


def row_lengths(batch: Any) -> np.ndarray:
    """(B,) real positions of each row (rows start at position 0)."""
    if getattr(batch, "lengths", None) is not None:
        return np.asarray(batch.lengths, dtype=np.int64)
    real = batch.inputs != 0
    real |= batch.targets != 0
    if batch.segments is not None:
        real |= batch.segments != 0
    last = real.shape[1] - np.argmax(real[:, ::-1], axis=1)  # (B,)
    return np.where(real.any(axis=1), last, 0).astype(np.int64)


def activation_dtype(model: Any) -> str:
    """The dtype of the hidden states (the embedding's output), e.g. bfloat16."""
    return str(embed(model, mx.array([[2]])).dtype).removeprefix("mlx.core.")


def fingerprint(base: Any, dtype: str, start: int) -> dict[str, Any]:
    """What the cached hidden states depend on besides the token ids."""
    from importlib.metadata import version

    from kazft import __version__

    folder = Path(base.folder)

    def sha(p: Path) -> str | None:
        return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None

    return {
        "base": str(base.source),
        "base_cache_key": base.key,
        "folder": str(folder.resolve()),
        "config": sha(folder / "config.json"),
        "weights": [
            [p.name, p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(folder.glob("*.safetensors"))
        ],
        "tokenizer": {
            name: sha(folder / name)
            for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
        },
        "quantization": base.quantization,
        "dtype": dtype,
        "layer": start,
        "mlx": version("mlx"),
        "kazft": __version__,
    }


def expected_bytes(data: Any, hidden: int, itemsize: int) -> int:
    """Bytes of the entries of one epoch's training rows and the validation rows."""
    rows = [row_lengths(data.batch(i)) for i in range(data.batches_per_epoch)]
    rows += [row_lengths(b) for b in data.valid]
    positions = sum(int(r.sum()) for r in rows)
    count = sum(len(r) for r in rows)
    return positions * hidden * itemsize + count * HEADER_BYTES


def plan(recipe: Any, model: Any, data: Any, run_dir: Path) -> CachePlan:
    tr = recipe.train
    start = first_adapted_layer(model)
    epochs = tr.iters * tr.grad_accum / max(1, data.batches_per_epoch)
    limit = int(tr.frozen_cache_gb * GB)
    off = CachePlan(False, "", start, 0, limit, epochs)
    if tr.frozen_cache == "off":
        return CachePlan(**{**off.__dict__, "why": "train.frozen_cache: off"})
    if start == 0:
        off.why = "the first decoder layer has LoRA: no frozen layers to skip"
        return off
    hidden = text_model(model).args.hidden_size
    itemsize = np.dtype(DTYPES[activation_dtype(model)][1]).itemsize
    expected = expected_bytes(data, hidden, itemsize)
    run_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(run_dir).free
    p = CachePlan(True, "train.frozen_cache: on", start, expected, limit, epochs)
    if tr.frozen_cache == "on":
        if expected > limit:
            p.why += f" (rows past the {tr.frozen_cache_gb:g} GB limit are recomputed)"
        return p
    if epochs <= 1:
        p.on, p.why = False, f"auto: the run covers {epochs:.2f} epoch(s), nothing to reuse"
    elif expected > limit:
        p.on, p.why = False, f"auto: over train.frozen_cache_gb ({tr.frozen_cache_gb:g} GB)"
    elif expected > free:
        p.on, p.why = False, f"auto: only {free / GB:.1f} GB free on disk"
    else:
        p.why = f"auto: the run covers {epochs:.2f} epochs"
    return p


class FrozenCache:
    """The hidden state entering layer ``start`` for each batch, cached."""

    def __init__(self, model: Any, store: FrozenStore, start: int, dtype: str) -> None:
        self.model, self.store, self.start, self.dtype = model, store, start, dtype
        self.hidden = text_model(model).args.hidden_size

        def compiled() -> Callable:
            def prefix(inputs: mx.array, *segments: mx.array) -> mx.array:
                return frozen_prefix(model, inputs, segments[0] if segments else None, start)

            return mx.compile(prefix)

        # One compiled function per mode (MLX keeps compiled graphs per Python
        # function): the training and evaluation forwards differ.
        self._prefix: dict[str, Callable] = {"train": compiled(), "eval": compiled()}

    def inputs(self, batch: Any, keep: bool = True) -> mx.array:
        """(B, L, H) hidden state entering layer ``start`` for ``batch``: read
        when every row is cached, else computed (and, with ``keep``, the
        missing rows written)."""
        mode = "train" if self.model.training else "eval"
        segs = [] if batch.segments is None else [mx.array(batch.segments)]
        if not keep:
            return self._prefix[mode](mx.array(batch.inputs), *segs)  # type: ignore[no-any-return]
        lengths = row_lengths(batch)
        seg = batch.segments
        keys = [
            self.store.key(mode, batch.inputs[b, :n], None if seg is None else seg[b, :n])
            for b, n in enumerate(lengths)
        ]
        rows = [
            self.store.get(k, (int(n), self.hidden), self.dtype)
            for k, n in zip(keys, lengths, strict=True)
        ]
        raw_type = DTYPES[self.dtype][1]
        if all(r is not None for r in rows):
            b, n = batch.inputs.shape
            h = np.zeros((b, n, self.hidden), raw_type)  # (B, L, H); padding reads as 0
            for i, r in enumerate(rows):
                h[i, : len(r)] = r  # type: ignore[arg-type]
            out = mx.array(h)
            return out.view(mx.bfloat16) if self.dtype == "bfloat16" else out
        h = self._prefix[mode](mx.array(batch.inputs), *segs)  # (B, L, H)
        mx.eval(h)
        raw = np.array(h.view(mx.uint16) if self.dtype == "bfloat16" else h)
        for i, (k, r) in enumerate(zip(keys, rows, strict=True)):
            if r is None:
                self.store.put(k, raw[i, : int(lengths[i])], self.dtype)
        return h  # type: ignore[no-any-return]

    def report(self) -> str:
        s = self.store.stats
        return (
            f"frozen-layer cache: {self.store.entries()} rows, "
            f"{size_text(self.store.size_on_disk())} measured on disk; {s.hits} rows read, "
            f"{s.written} written, {s.corrupt} damaged file(s) recomputed"
            + (f", {s.over_budget} not written (recomputed)" if s.over_budget else "")
            + (f"; writing stopped after an error: {s.write_error}" if s.write_error else "")
        )


def open_cache(
    recipe: Any, model: Any, base: Any, data: Any, run_dir: Path, log: Callable[[str], None]
) -> FrozenCache | None:
    """The run's cache (None when off), after logging the decision and the
    expected size."""
    p = plan(recipe, model, data, run_dir)
    if not p.on:
        if p.why and recipe.train.frozen_cache != "off":
            log(f"frozen-layer cache off ({p.why})")
        return None
    dtype = activation_dtype(model)
    store = FrozenStore(run_dir / FOLDER, fingerprint(base, dtype, p.start), p.limit)
    if store.removed_stale:
        log(f"frozen-layer cache: removed {len(store.removed_stale)} stale set(s) (another base)")
    n_layers = len(text_model(model).layers)
    log(
        f"frozen-layer cache on ({p.why}): layers 0-{p.start - 1} of {n_layers} run once per "
        f"row, then read from {store.dir}; expected size {size_text(p.expected)} "
        f"({dtype}, limit {p.limit / GB:g} GB)"
    )
    return FrozenCache(model, store, p.start, dtype)
