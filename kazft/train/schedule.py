"""Learning-rate schedule, counted in optimiser steps (not micro-batches).

With ``k`` the number of optimiser updates already applied (0 for the first
update; MLX's optimisers call the schedule with exactly this count), a run of
``iters`` steps uses:

* warm-up, ``k < warmup_steps``: ``lr * (k + 1) / warmup_steps`` (the first
  update already moves; the last warm-up step reaches ``lr``);
* then ``constant``: ``lr``; or ``cosine``: from ``lr`` down towards
  ``lr * min_lr_ratio`` over the remaining ``iters - warmup_steps`` steps,
  ``min + (lr - min) * (1 + cos(pi * t)) / 2`` with
  ``t = (k - warmup_steps) / (iters - warmup_steps)``, so the last step still
  learns a little and the floor is reached just after it.

Gradient accumulation does not change it: one optimiser step consumes
``grad_accum`` micro-batches and advances ``k`` by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kazft.recipe import TrainSection


def lr_at(train: TrainSection, k: int) -> float:
    """The learning rate of optimiser update number ``k`` (0-based), in Python."""
    lr, warm = train.learning_rate, train.warmup_steps
    if k < warm:
        return lr * (k + 1) / warm
    if train.schedule == "constant":
        return lr
    floor = lr * train.min_lr_ratio
    t = min(1.0, (k - warm) / max(1, train.iters - warm))
    return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def build_schedule(train: TrainSection) -> Callable[[Any], Any]:
    """The same function on MLX arrays, for ``optim.AdamW(learning_rate=...)``."""
    import mlx.core as mx

    lr, warm = train.learning_rate, train.warmup_steps
    floor = lr * train.min_lr_ratio
    decay = max(1, train.iters - warm)

    def schedule(step: Any) -> Any:
        k = mx.array(step).astype(mx.float32)
        warmup = lr * (k + 1) / max(1, warm)
        if train.schedule == "constant":
            after = mx.array(lr, mx.float32)
        else:
            t = mx.minimum((k - warm) / decay, 1.0)
            after = floor + (lr - floor) * 0.5 * (1.0 + mx.cos(math.pi * t))
        return mx.where(k < warm, warmup, after)

    return schedule
