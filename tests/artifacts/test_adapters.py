"""resolve_adapter: run folders, checkpoints, adapter folders and bundles."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from kazft.artifacts.adapters import resolve_adapter
from kazft.errors import ModelError


def _adapter(folder: Path, base: str = "kazft:tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapters.safetensors").write_bytes(b"x")  # resolve_adapter reads no weights
    cfg = {
        "fine_tune_type": "lora",
        "num_layers": 2,
        "lora_parameters": {"rank": 4, "scale": 2.0, "dropout": 0.0},
        "base_model": base,
    }
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    return folder


def _run(root: Path) -> Path:
    (root / "recipe.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "recipe.yaml").write_text("model: {base: kazft:tiny}\n")
    _adapter(root / "adapters")
    step = _adapter(root / "checkpoints" / "step-000002", base="kazft:tiny")
    (step / "state.json").write_text("{}")
    (step / "recipe.yaml").write_text("model: {base: kazft:tiny}\n")
    (root / "checkpoints" / "latest").write_text("step-000002\n")
    return root


def test_run_folder_uses_its_adapters_folder(tmp_path: Path):
    run = _run(tmp_path / "run")
    ref = resolve_adapter(run)
    assert (ref.folder, ref.kind, ref.base_model) == (run / "adapters", "run", "kazft:tiny")
    assert ref.recipe_yaml == run / "recipe.yaml"
    assert ref.weights == run / "adapters" / "adapters.safetensors"


def test_checkpoint_folder(tmp_path: Path):
    run = _run(tmp_path / "run")
    ref = resolve_adapter(run / "checkpoints" / "step-000002")
    assert (ref.kind, ref.recipe_yaml) == (
        "checkpoint",
        run / "checkpoints" / "step-000002" / "recipe.yaml",
    )


def test_adapters_subfolder_of_a_run_finds_the_run_recipe(tmp_path: Path):
    run = _run(tmp_path / "run")
    ref = resolve_adapter(str(run / "adapters"))
    assert (ref.kind, ref.folder, ref.recipe_yaml) == (
        "adapter",
        run / "adapters",
        run / "recipe.yaml",
    )


def test_plain_adapter_folder(tmp_path: Path):
    ref = resolve_adapter(_adapter(tmp_path / "ad", base="google/gemma-3-4b-it"))
    assert (ref.kind, ref.base_model, ref.recipe_yaml) == ("adapter", "google/gemma-3-4b-it", None)
    assert ref.config()["lora_parameters"]["rank"] == 4


def test_run_without_adapters_yet_uses_the_latest_checkpoint(tmp_path: Path):
    run = _run(tmp_path / "run")
    for f in (run / "adapters").iterdir():
        f.unlink()
    (run / "adapters").rmdir()
    _adapter(run / "checkpoints" / "step-000001")
    ref = resolve_adapter(run)
    assert (ref.kind, ref.folder) == ("run", run / "checkpoints" / "step-000002")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", r"adapter '.*missing' not found: give a run folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", r"empty: no adapters\.safetensors here"),
        (
            lambda p: (p / "r").mkdir() or (p / "r" / "recipe.yaml").write_text("x") and p / "r",
            r"r: a run folder with no adapter yet; train first",
        ),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", r"is a file: give a run folder"),
    ],
)
def test_unusable_paths_are_one_line_errors(tmp_path: Path, make, message: str):
    with pytest.raises(ModelError, match=message) as err:
        resolve_adapter(make(tmp_path))
    assert "\n" not in str(err.value)


def test_weights_without_config_and_bad_config(tmp_path: Path):
    ad = _adapter(tmp_path / "ad")
    (ad / "adapter_config.json").unlink()
    with pytest.raises(ModelError, match="has adapters.safetensors but no adapter_config.json"):
        resolve_adapter(ad)
    (ad / "adapter_config.json").write_text("{\n  broken")
    with pytest.raises(ModelError, match=r"adapter_config.json:2: not valid JSON"):
        resolve_adapter(ad)


def _bundle(root: Path) -> Path:
    from kazft.artifacts.manifest import write_manifest

    _adapter(root / "mlx")
    (root / "recipe.yaml").write_text("model: {base: kazft:tiny}\n")
    write_manifest(root, {"base_model": {"id": "kazft:tiny"}})
    return root


def test_bundle_folder_and_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAZFT_HOME", str(tmp_path / "home"))
    b = _bundle(tmp_path / "b" / "legal-bundle")
    ref = resolve_adapter(b)
    assert (ref.kind, ref.folder, ref.recipe_yaml, ref.source) == (
        "bundle",
        b / "mlx",
        b / "recipe.yaml",
        b,
    )
    archive = tmp_path / "legal-bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(b, arcname="legal-bundle")
    ref2 = resolve_adapter(archive)
    assert ref2.kind == "bundle" and ref2.base_model == "kazft:tiny"
    assert (ref2.folder / "adapters.safetensors").read_bytes() == b"x"
    assert ref2.source == archive


def test_tampered_bundle_is_refused(tmp_path: Path):
    b = _bundle(tmp_path / "b")
    (b / "mlx" / "adapters.safetensors").write_bytes(b"y")
    with pytest.raises(ModelError, match=r"mlx/adapters.safetensors: modified since export"):
        resolve_adapter(b)
