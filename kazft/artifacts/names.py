"""The names of every file and folder kazft writes for a run, a checkpoint or a bundle.

A run folder (a recipe's ``output.dir``)::

    recipe.yaml            the resolved recipe
    metrics.jsonl          one JSON line per report / evaluation
    adapters/              the newest adapter (mlx-lm format)
    checkpoints/
        latest, best       pointer files: the name of a checkpoint folder
        step-000200/       one checkpoint (see kazft.artifacts.state for state.json)

Step folders are named ``step-`` and at least six digits; past step 999,999
the name grows (``step-1000000``), so checkpoints are always ordered by the
number they carry, never by their names as text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ADAPTER_WEIGHTS = "adapters.safetensors"  # mlx-lm's adapter file
ADAPTER_CONFIG = "adapter_config.json"  # mlx-lm's (and PEFT's) adapter config
OPTIMIZER_STATE = "optimizer.safetensors"
TRAIN_STATE = "state.json"
RECIPE = "recipe.yaml"
METRICS = "metrics.jsonl"
MANIFEST = "manifest.json"  # a bundle's list of files and hashes

ADAPTERS_DIR = "adapters"
CHECKPOINTS_DIR = "checkpoints"
LATEST = "latest"
BEST = "best"

STEP_RE = re.compile(r"^step-(\d{6,})$")
TMP_PREFIX = ".step-"  # temporaries of a checkpoint being written
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".npz", ".joblib")


def kazft_home() -> Path:
    """Where kazft caches built and quantised models (``KAZFT_HOME`` overrides)."""
    env = os.environ.get("KAZFT_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kazft"


def step_name(step: int) -> str:
    return f"step-{step:06d}"


def step_of(name: str) -> int | None:
    """The step a checkpoint folder name carries, or None for any other name."""
    m = STEP_RE.match(name)
    return int(m.group(1)) if m else None
