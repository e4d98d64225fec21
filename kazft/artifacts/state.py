"""``state.json``: everything a checkpoint holds besides tensors, every key once.

The trainer fills a :class:`TrainState` and saving writes it; resuming reads it
back. Format history (``format`` in the file):

* 1: the keys below without ``files``.
* 2: adds ``files``, the checkpoint's other files with their sizes in bytes, so
  a checkpoint folder describes itself.

A format-1 file reads as format 2 with ``files`` empty; a format newer than this
kazft knows is refused with an upgrade hint rather than half-read.
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kazft.artifacts.names import TRAIN_STATE
from kazft.errors import KazftError

FORMAT_VERSION = 2
READS_FORMATS = (1, 2)


@dataclass
class TrainState:
    """The training position and record at the end of optimiser step ``step``."""

    step: int = 0  # optimiser steps done
    iters: int = 0  # the recipe's train.iters when saved
    data_position: int = 0  # index of the next micro-batch
    batches_per_epoch: int = 0
    epoch: float = 0.0  # data_position / batches_per_epoch
    learning_rate: float = 0.0  # the rate of the last step taken
    next_learning_rate: float = 0.0
    train_loss: float = math.nan  # mean loss per trained token of the last step
    val_loss: float | None = None  # measured at this step, if it was
    best_val_loss: float | None = None
    best_step: int | None = None
    data_fingerprint: str | None = None  # refuse to resume on other data
    train_examples: int = 0
    grad_checkpoint: Any = None  # the gradient-checkpointing setting trained with
    base_cache_key: str | None = None  # the quantised base cache entry
    tokens: int = 0  # all tokens seen, prompt included
    trained_tokens: int = 0
    train_seconds: float = 0.0
    rng_key: list[int] = field(default_factory=list)  # mx.random.state, [hi, lo]
    versions: dict[str, str] = field(default_factory=dict)
    saved_at: str = ""
    files: dict[str, int] = field(default_factory=dict)  # format 2: name -> bytes
    format: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: Path | str = "state.json") -> TrainState:
        fmt = d.get("format", 1)
        if fmt not in READS_FORMATS:
            raise KazftError(
                f"{where}: checkpoint format {fmt!r}; this kazft reads formats "
                f"{', '.join(map(str, READS_FORMATS))}. Upgrade kazft to resume it."
            )
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known} | {"format": FORMAT_VERSION})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"format": d.pop("format"), **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @property
    def counters(self) -> dict[str, float]:
        return {
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "train_seconds": self.train_seconds,
        }


def read_state(ckpt: Path) -> TrainState:
    path = ckpt / TRAIN_STATE
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise KazftError(f"{path}: unreadable checkpoint state ({err})") from None
    if not isinstance(d, dict):
        raise KazftError(f"{path}: unreadable checkpoint state (not a JSON object)")
    return TrainState.from_dict(d, path)


def library_versions() -> dict[str, str]:
    """The versions that decide whether a resumed step computes the same bits."""
    from importlib.metadata import PackageNotFoundError, version

    from kazft import __version__

    out = {"kazft": __version__}
    for key, dist in (("mlx", "mlx"), ("mlx_lm", "mlx-lm")):
        with contextlib.suppress(PackageNotFoundError):
            out[key] = version(dist)
    out["python"] = platform.python_version()
    return out


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
