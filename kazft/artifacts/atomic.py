"""The one atomic writer: files and folders that are either whole or not there.

Everything is written into a hidden temporary sibling (same folder, so the
rename stays on one filesystem and is atomic), flushed to disk with ``fsync``,
then renamed onto the target; the parent folder is fsynced after the rename so
the new name itself survives a power cut. A folder being replaced is moved
aside first (a folder rename cannot replace a non-empty folder) and removed
after the new one is in place: a reader sees the old folder or the new one,
or for the instant between two renames none, never a mixture.

Permissions are what a plain ``open(path, "w")`` / ``mkdir`` would give:
``0o666`` / ``0o777`` less the process umask, or the mode of the file being
replaced (``mkstemp`` and ``mkdtemp`` create private ``0o600`` / ``0o700``
entries, which must not leak into a bundle meant for a colleague).

Pure Python: text/ and data/ code use it without importing mlx.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no read-only API elsewhere: set and restore at once
    os.umask(mask)
    return mask


def plain_file_mode(target: Path) -> int:
    """The mode a plain write of ``target`` would leave: its own if it exists."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                fsync_file(p)
        fsync_dir(Path(dirpath))


@contextlib.contextmanager
def atomic_path(out: Path | str, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write a file at; on success it replaces ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = plain_file_mode(out)
    # The target's suffix kept: some writers pick the format by it (matplotlib).
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.tmp-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            fsync_file(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(out.parent)


def atomic_file(out: Path | str, write: Callable[[Path], Any], *, fsync: bool = True) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``out``."""
    with atomic_path(out, fsync=fsync) as tmp:
        write(tmp)


def atomic_write(out: Path | str, data: bytes | str, *, fsync: bool = True) -> None:
    """Replace ``out`` with ``data`` (str is written as UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(out, fsync=fsync) as tmp:
        tmp.write_bytes(raw)


@contextlib.contextmanager
def atomic_open(out: Path | str, mode: str = "w", *, fsync: bool = True) -> Iterator[IO[Any]]:
    """An open handle (text: UTF-8, ``\\n`` line ends) whose file replaces ``out`` on success."""
    text = "b" not in mode
    with (
        atomic_path(out, fsync=fsync) as tmp,
        open(
            tmp,
            mode,
            encoding="utf-8" if text else None,
            newline="\n" if text else None,
        ) as fh,
    ):
        yield fh


@contextlib.contextmanager
def atomic_folder(
    out: Path | str, *, fsync: bool = True, if_exists: Literal["replace", "keep"] = "replace"
) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``out``.

    ``if_exists="keep"``: when ``out`` appeared meanwhile (another process filling
    the same cache entry), keep that one and drop ours."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if fsync:
            _fsync_tree(tmp)
        os.chmod(tmp, 0o777 & ~current_umask())
        if if_exists == "keep" and out.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if fsync:
        fsync_dir(out.parent)


def replace_folder(tmp: Path, out: Path) -> None:
    """Rename the finished folder ``tmp`` onto ``out``, swapping an old one out first
    (a folder rename cannot replace a non-empty folder)."""
    if out.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, trash / out.name)
        os.replace(tmp, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out)


def remove_folder(folder: Path) -> None:
    """Delete ``folder`` so that a crash mid-delete leaves no half of it visible."""
    trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=folder.parent))
    os.replace(folder, trash / folder.name)
    shutil.rmtree(trash, ignore_errors=True)
