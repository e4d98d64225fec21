"""The frozen-layer cache on disk: one SafeTensors file per row, checked on read.

A *row* is what the trainer feeds the model in one batch row: one record (its
input token ids), or with packing one packed row (the records' token ids and
their segment numbers; packed rows are made once per run, so a row recurs
unchanged every epoch). Its entry holds the hidden state entering the first
LoRA layer, (positions, hidden) in the model's activation dtype.

Layout: ``ROOT/<namespace>/<ab>/<key>.safetensors``. The namespace hashes
everything the hidden state depends on besides the token ids (the base model's
weights and config, the quantisation, the tokenizer, the dtype, the layer
index, the MLX and kazft versions, this format); opening a store removes every
other namespace under ROOT, so an entry made for another base, quantisation or
tokenizer is never read (nor kept on disk). The key hashes the namespace, the
mode (training or evaluation forward), the token ids and the segments.

Integrity: each file carries, in its SafeTensors metadata, its key, namespace
and the SHA-256 of its tensor bytes. A read checks the file's size against its
header, the shape and dtype against the row, the key and the checksum; any
mismatch (a truncated or corrupted file) deletes the file and reports a miss,
so the caller recomputes the row and writes it again. Files are written
through kazft's atomic writer, so a crash leaves no half-written entry.

The files are written here rather than with a SafeTensors library because
numpy has no bfloat16: the bytes are stored as they are in memory, under the
dtype name the format defines (BF16, F16, F32).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kazft.artifacts.atomic import atomic_write

FORMAT = 1
SUFFIX = ".safetensors"
NAMESPACE_FILE = "namespace.json"
# Activation dtype -> (SafeTensors name, numpy type holding the same bytes).
DTYPES: dict[str, tuple[str, Any]] = {
    "float32": ("F32", np.float32),
    "float16": ("F16", np.float16),
    "bfloat16": ("BF16", np.uint16),
}


@dataclass
class StoreStats:
    hits: int = 0  # rows read from disk
    misses: int = 0  # rows not on disk (first sight, or evicted as corrupt)
    written: int = 0  # rows written
    corrupt: int = 0  # files found damaged, deleted and recomputed
    over_budget: int = 0  # rows not written because the size limit was reached
    write_error: str | None = None  # the first failed write (a full disk): writing stopped


def namespace_id(namespace: dict[str, Any]) -> str:
    blob = json.dumps({**namespace, "format": FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def encode(array: np.ndarray, dtype: str, metadata: dict[str, str]) -> bytes:
    """One tensor named ``h`` as a SafeTensors file (header padded to 8 bytes)."""
    data = np.ascontiguousarray(array).tobytes()
    header = {
        "h": {
            "dtype": DTYPES[dtype][0],
            "shape": list(array.shape),
            "data_offsets": [0, len(data)],
        },
        "__metadata__": {**metadata, "sha256": hashlib.sha256(data).hexdigest()},
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def decode(blob: bytes, dtype: str, shape: tuple[int, ...], key: str) -> np.ndarray | None:
    """The tensor of ``blob`` if it is whole and is the entry ``key``; else None."""
    try:
        (n,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8 : 8 + n])
        spec, meta = header["h"], header["__metadata__"]
        begin, end = spec["data_offsets"]
        data = blob[8 + n + begin : 8 + n + end]
        ok = (
            len(blob) == 8 + n + end
            and spec["dtype"] == DTYPES[dtype][0]
            and tuple(spec["shape"]) == shape
            and meta.get("key") == key
            and hashlib.sha256(data).hexdigest() == meta.get("sha256")
        )
    except (struct.error, ValueError, KeyError, TypeError):
        return None
    if not ok:
        return None
    return np.frombuffer(data, dtype=DTYPES[dtype][1]).reshape(shape)


class FrozenStore:
    """Entries of one namespace under ``root``, at most ``limit`` bytes in all."""

    def __init__(self, root: Path, namespace: dict[str, Any], limit: int) -> None:
        self.root = root
        self.namespace = namespace_id(namespace)
        self.dir = root / self.namespace
        self.limit = limit
        self.stats = StoreStats()
        self.removed_stale: list[str] = []
        if root.is_dir():
            for other in sorted(root.iterdir()):
                if other.name != self.namespace and other.is_dir():
                    shutil.rmtree(other, ignore_errors=True)
                    self.removed_stale.append(other.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        desc = self.dir / NAMESPACE_FILE
        if not desc.exists():
            body = json.dumps({**namespace, "format": FORMAT}, indent=2, default=str) + "\n"
            atomic_write(desc, body, fsync=False)
        self.used = self.size_on_disk()

    def size_on_disk(self) -> int:
        """Bytes of the entry files now on disk."""
        return sum(p.stat().st_size for p in self.dir.glob(f"*/*{SUFFIX}"))

    def entries(self) -> int:
        return sum(1 for _ in self.dir.glob(f"*/*{SUFFIX}"))

    def key(self, mode: str, tokens: np.ndarray, segments: np.ndarray | None) -> str:
        """The entry of one row: ``tokens`` (n,) ids, ``segments`` (n,) or None."""
        h = hashlib.sha256(f"{self.namespace}/{mode}/{len(tokens)}/".encode())
        h.update(np.ascontiguousarray(tokens, dtype="<i4").tobytes())
        if segments is not None:
            h.update(b"segments")
            h.update(np.ascontiguousarray(segments, dtype="<i4").tobytes())
        return h.hexdigest()[:40]

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}{SUFFIX}"

    def get(self, key: str, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
        """The entry's array (numpy type of DTYPES), or None (absent or damaged:
        a damaged file is deleted, so the recomputed row replaces it)."""
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except OSError:  # absent (or unreadable): recomputed
            self.stats.misses += 1
            return None
        array = decode(blob, dtype, shape, key)
        if array is None:
            self.stats.corrupt += 1
            self.stats.misses += 1
            self.used -= len(blob)
            path.unlink(missing_ok=True)
            return None
        self.stats.hits += 1
        return array

    def put(self, key: str, array: np.ndarray, dtype: str) -> bool:
        """Write the entry unless it would pass the size limit (then False).
        A failed write (a full disk) stops writing for the rest of the run
        instead of stopping the training: rows not written are recomputed."""
        blob = encode(array, dtype, {"key": key, "namespace": self.namespace})
        if self.stats.write_error is not None or self.used + len(blob) > self.limit:
            self.stats.over_budget += 1
            return False
        try:
            # No fsync: an entry lost in a power cut is a miss, a torn one fails
            # its checksum; either way the row is recomputed.
            atomic_write(self.path(key), blob, fsync=False)
        except OSError as err:
            self.stats.write_error = f"{self.path(key)}: {err.strerror or err}"
            self.stats.over_budget += 1
            return False
        self.used += len(blob)
        self.stats.written += 1
        return True

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
