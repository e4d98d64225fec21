"""Shared fixtures: the tiny Gemma 3 is built once per test session, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tests never touch the user's caches or the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _kazft_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("kazft_home")
    os.environ["KAZFT_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from kazft.model.tiny import build

    base = tmp_path_factory.mktemp("tiny")
    return {
        layout: build(base / layout, layout=layout, seed=0) for layout in ("gemma3", "gemma3_text")
    }


@pytest.fixture(scope="session")
def tiny_dir(tiny_dirs: dict[str, Path]) -> Path:
    """The multimodal layout, as google/gemma-3-4b-it ships."""
    return tiny_dirs["gemma3"]


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_dir: Path):
    from mlx_lm.utils import load_config, load_tokenizer

    # As mlx_lm.load does: generation_config.json's eos ids are the stop tokens.
    return load_tokenizer(tiny_dir, eos_token_ids=load_config(tiny_dir)["eos_token_id"])


@pytest.fixture(scope="session")
def embedded_tiny(tiny_dir: Path) -> Path:
    """kazft:tiny in the session's KAZFT_HOME, copied from tiny_dir (same seed: same bytes)."""
    import shutil

    from kazft.model.load import embedded_folder, embedded_path

    out = embedded_folder("kazft:tiny")
    if not (out / "config.json").exists():
        shutil.copytree(tiny_dir, out)
    return embedded_path("kazft:tiny")
