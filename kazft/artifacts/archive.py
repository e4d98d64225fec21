"""Unpacking bundle archives without letting them write outside the bundle.

Every member of a ``.tar.gz`` is checked before anything is written: absolute
paths, ``..``, links, devices and duplicate names are refused with the member's
name and the reason. Used by :mod:`kazft.artifacts.manifest`, which verifies what
was unpacked.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from kazft.artifacts.atomic import atomic_folder
from kazft.artifacts.hashing import sha256_file
from kazft.artifacts.names import ARCHIVE_SUFFIXES
from kazft.errors import ModelError


def refusal(where: Path, problems: list[str], tail: str) -> str:
    lines = "\n".join(f"  - {p}" for p in problems)
    n = len(problems)
    return f"{where}: refusing the bundle, {n} problem{'s' if n != 1 else ''}:\n{lines}\n{tail}"


def unsafe_name(name: str) -> str | None:
    """Why a member/manifest path could escape the bundle, or None if it cannot."""
    if not name or "\\" in name or "\x00" in name:
        return "is not a plain relative path"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path (it would be written outside the bundle)"
    if ".." in PurePosixPath(name).parts:
        return "contains '..' (it would be written outside the bundle)"
    return None


def safe_unpack(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` into the new folder ``dest``, refusing anything unsafe.

    Every member is checked before anything is written: absolute paths, ``..``,
    symbolic and hard links, devices and FIFOs, and duplicate names are refused.
    Files are written into a temporary folder beside ``dest``, then renamed.
    """
    problems: list[str] = []
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as err:
        raise ModelError(f"{archive}: not a readable .tar.gz bundle ({err})") from None
    with tar:
        members = tar.getmembers()
        seen: set[str] = set()
        for m in members:
            name = m.name.removeprefix("./")
            why = unsafe_name(name)
            if why:
                problems.append(f"{m.name}: {why}")
            elif m.issym() or m.islnk():
                problems.append(
                    f"{m.name}: is a link (to {m.linkname!r}); bundles hold only plain files"
                )
            elif not (m.isfile() or m.isdir()):
                problems.append(f"{m.name}: is a device, FIFO or other special file")
            elif name.rstrip("/") in seen:
                problems.append(f"{m.name}: appears twice in the archive")
            seen.add(name.rstrip("/"))
        if problems:
            raise ModelError(refusal(archive, problems, "nothing was unpacked"))
        # Another process may unpack the same archive into the cache at once: keep theirs.
        with atomic_folder(dest, if_exists="keep") as tmp:
            for m in members:
                target = tmp / m.name.removeprefix("./")
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                assert src is not None  # a regular file, checked above
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    return dest


def unpack_cached(archive: Path) -> Path:
    """Unpack into kazft's cache, keyed by the archive's SHA-256 (reused, always re-verified)."""
    from kazft.artifacts.names import kazft_home

    digest = sha256_file(archive)[:16]
    stem = archive.name
    for suffix in ARCHIVE_SUFFIXES:
        stem = stem.removesuffix(suffix)
    dest = kazft_home() / "bundles" / f"{stem}-{digest}"
    if not dest.is_dir():
        safe_unpack(archive, dest)
    return dest
