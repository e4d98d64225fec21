"""Checkpoint files: atomic writes, a crash while saving, pointers and pruning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.artifacts import checkpoints as ck
from kazft.errors import KazftError
from kazft.train.resume import find_checkpoint, recipe_changes


def _files(step: int, val: float | None = None) -> dict[str, bytes | str]:
    return {
        "adapters.safetensors": str(step).encode() * 100,
        "optimizer.safetensors": b"opt",
        "state.json": json.dumps({"step": step, "val_loss": val}),
        "recipe.yaml": "x: 1\n",
    }


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    ck.write_checkpoint(tmp_path, 200, _files(200), keep=3)
    before = _snapshot(tmp_path / "checkpoints" / "step-000200")
    real_write, written = ck._write_file, []

    def crash_after_two(path: Path, data: bytes) -> None:
        if len(written) == 2:
            raise OSError("disk full (simulated crash in the middle of a save)")
        written.append(path.name)
        real_write(path, data)

    monkeypatch.setattr(ck, "_write_file", crash_after_two)
    with pytest.raises(OSError, match="simulated"):
        ck.write_checkpoint(tmp_path, 400, _files(400), keep=3)
    ckpts = tmp_path / "checkpoints"
    assert written == ["adapters.safetensors", "optimizer.safetensors"]  # partly written
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step-000200"]
    assert (ckpts / "latest").read_text() == "step-000200\n"
    assert _snapshot(ckpts / "step-000200") == before
    assert find_checkpoint(tmp_path, "latest") == ckpts / "step-000200"


def test_a_killed_process_leaves_only_a_hidden_temporary(tmp_path):
    ck.write_checkpoint(tmp_path, 200, _files(200), keep=3)
    ckpts = tmp_path / "checkpoints"
    # What SIGKILL during a save leaves: a half-written hidden temporary folder.
    partial = ckpts / ".step-000400.tmp-abc123"
    partial.mkdir()
    (partial / "adapters.safetensors").write_bytes(b"half")
    assert [s for s, _ in ck.list_checkpoints(ckpts)] == [200]
    assert find_checkpoint(tmp_path, "latest") == ckpts / "step-000200"
    ck.remove_stale_temporaries(ckpts)
    assert not partial.exists()


def test_latest_pointer_lost_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    ck.write_checkpoint(tmp_path, 2, _files(2), keep=3)
    ck.write_checkpoint(tmp_path, 4, _files(4), keep=3)
    (tmp_path / "checkpoints" / "latest").unlink()
    assert find_checkpoint(tmp_path, "latest").name == "step-000004"


def test_pruning_keeps_the_newest_and_the_best(tmp_path):
    for step, val in [(200, 1.5), (400, 1.2), (600, 1.4), (800, 1.3), (1000, None)]:
        ck.write_checkpoint(tmp_path, step, _files(step, val), keep=2)
    ckpts = tmp_path / "checkpoints"
    assert [s for s, _ in ck.list_checkpoints(ckpts)] == [400, 800, 1000]
    assert (ckpts / "best").read_text() == "step-000400\n"
    assert (ckpts / "latest").read_text() == "step-001000\n"
    assert not [p for p in ckpts.iterdir() if p.name.startswith(".")]


def test_saving_the_same_step_again_replaces_it(tmp_path):
    ck.write_checkpoint(tmp_path, 3, _files(3), keep=2)
    files = _files(3)
    files["recipe.yaml"] = "x: 2\n"
    ck.write_checkpoint(tmp_path, 3, files, keep=2)
    folder = tmp_path / "checkpoints" / "step-000003"
    assert (folder / "recipe.yaml").read_text() == "x: 2\n"
    assert [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")] == []


def test_checkpoints_are_ordered_by_step_past_999999(tmp_path):
    # As text "step-1000000" < "step-999999": the order must come from the number.
    for step in (999_998, 999_999, 1_000_000, 1_000_001):
        ck.write_checkpoint(tmp_path, step, _files(step), keep=10)
    ckpts = tmp_path / "checkpoints"
    assert ck.step_name(999_999) == "step-999999" and ck.step_name(1_000_000) == "step-1000000"
    assert [s for s, _ in ck.list_checkpoints(ckpts)] == [999_998, 999_999, 1_000_000, 1_000_001]
    (ckpts / "latest").unlink()  # the fallback sorts too
    assert ck.latest_checkpoint(tmp_path) == ckpts / "step-1000001"
    ck.prune(ckpts, keep=1)
    assert [s for s, _ in ck.list_checkpoints(ckpts)] == [1_000_001]


def test_the_adapter_resolver_takes_the_numerically_latest_checkpoint(tmp_path):
    from kazft.artifacts.adapters import resolve_adapter

    for step in (999_999, 1_000_000):
        files = _files(step)
        files["adapter_config.json"] = json.dumps({"base_model": "kazft:tiny"})
        ck.write_checkpoint(tmp_path, step, files, keep=10)
    (tmp_path / "checkpoints" / "latest").unlink()
    (tmp_path / "recipe.yaml").write_text("x: 1\n")
    ref = resolve_adapter(tmp_path)
    assert (ref.kind, ref.folder.name, ref.step) == ("run", "step-1000000", 1_000_000)


def test_find_checkpoint_by_name_number_and_folder(tmp_path):
    ck.write_checkpoint(tmp_path, 200, _files(200), keep=3)
    folder = tmp_path / "checkpoints" / "step-000200"
    assert find_checkpoint(tmp_path, "step-000200") == folder
    assert find_checkpoint(tmp_path, "200") == folder
    assert find_checkpoint(tmp_path, str(folder)) == folder
    with pytest.raises(KazftError, match="step-000200"):
        find_checkpoint(tmp_path, "step-000300")
    with pytest.raises(KazftError, match="no checkpoint"):
        find_checkpoint(tmp_path / "elsewhere", "latest")


def test_recipe_changes_lists_every_differing_key():
    old = {"train": {"learning_rate": 1e-4, "iters": 10}, "lora": {"rank": 8}}
    new = {"train": {"learning_rate": 2e-4, "iters": 10}, "lora": {"rank": 8, "alpha": 4}}
    assert recipe_changes(old, new) == [
        ("lora.alpha", None, 4),
        ("train.learning_rate", 1e-4, 2e-4),
    ]
