"""The one atomic writer: never a half-written file, fsynced, plain permissions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kazft.artifacts import atomic


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_failing_write_leaves_the_old_file_whole(tmp_path: Path):
    target = tmp_path / "a" / "answers.jsonl"
    atomic.atomic_write(target, "old\n")

    def half_then_crash(tmp: Path) -> None:
        # A plain write would already have truncated ``target`` at this point.
        tmp.write_text("half of the new")
        assert target.read_text() == "old\n"
        raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="simulated"):
        atomic.atomic_file(target, half_then_crash)
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["answers.jsonl"]


def test_the_new_content_appears_only_at_the_rename(tmp_path: Path, monkeypatch):
    target = tmp_path / "f.txt"
    target.write_text("one")
    seen = []
    real_replace = os.replace

    def watch(src, dst):  # noqa: ANN001 - os.replace's own signature
        seen.append(Path(dst).read_text())  # the target just before the rename
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", watch)
    atomic.atomic_write(target, "two")
    assert seen == ["one"] and target.read_text() == "two"


def test_files_and_folders_get_the_permissions_a_plain_write_gives(tmp_path: Path):
    old = os.umask(0o022)
    try:
        atomic.atomic_write(tmp_path / "f.txt", "x")
        with atomic.atomic_folder(tmp_path / "bundle") as tmp:
            (tmp / "g.txt").write_text("y")
        (tmp_path / "plain.txt").write_text("x")
        (tmp_path / "plain").mkdir()
        assert _mode(tmp_path / "f.txt") == _mode(tmp_path / "plain.txt") == 0o644
        assert _mode(tmp_path / "bundle") == _mode(tmp_path / "plain") == 0o755
        os.umask(0o077)
        atomic.atomic_write(tmp_path / "private.txt", "x")
        assert _mode(tmp_path / "private.txt") == 0o600
        # Replacing keeps the file's own mode, as writing over it would.
        os.chmod(tmp_path / "f.txt", 0o640)
        atomic.atomic_write(tmp_path / "f.txt", "z")
        assert _mode(tmp_path / "f.txt") == 0o640
    finally:
        os.umask(old)


def test_writes_are_fsynced_before_the_rename(tmp_path: Path, monkeypatch):
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append("x"), real(fd)))
    atomic.atomic_write(tmp_path / "f.txt", "x")
    assert len(synced) >= 2  # the file, then its folder
    synced.clear()
    with atomic.atomic_folder(tmp_path / "d") as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("2")
    assert len(synced) >= 3


def test_a_failing_folder_leaves_the_old_folder(tmp_path: Path):
    out = tmp_path / "export"
    with atomic.atomic_folder(out) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic.atomic_folder(out) as tmp:
        (tmp / "a").write_text("new")
        raise RuntimeError("crash")
    assert (out / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]
    with atomic.atomic_folder(out) as tmp:
        (tmp / "b").write_text("new")
    assert [p.name for p in out.iterdir()] == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_keep_existing_folder(tmp_path: Path):
    out = tmp_path / "cache-entry"
    with atomic.atomic_folder(out, if_exists="keep") as tmp:
        (tmp / "a").write_text("first")
        with atomic.atomic_folder(out) as other:  # another process finishes first
            (other / "a").write_text("theirs")
    assert (out / "a").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["cache-entry"]


def test_the_atomic_writer_and_the_text_tools_import_no_mlx():
    code = (
        "import sys, kazft.artifacts.atomic, kazft.text.output, kazft.artifacts.checkpoints, "
        "kazft.artifacts.adapters, kazft.artifacts.state; "
        "sys.exit(1 if any(m == 'mlx' or m.startswith('mlx.') for m in sys.modules) else 0)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
