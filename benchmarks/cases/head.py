"""The LM head + cross-entropy alone at the real vocabulary, forward and backward.

kazft's chunked loss (kazft.train.chunked_ce) against mlx-lm's default loss
(the full logits), each in its own process, on random fp32 weights with the
4B's hidden size and vocabulary: what ``benchmarks/head_memory.py`` measures,
as a bench case with both tools' rows. The figure is the MLX peak above what
was resident before the step (the head's weights and the inputs).

Only memory is compared. On a Linux CPU machine the mlx[cpu] wheel's reference
BLAS (about 2.2 GFLOP/s) would need roughly 40 minutes for one 2048-token head
step (5.5 TFLOP, computed), so when the system has
OpenBLAS the children preload it (``LD_PRELOAD``): the same computation and
memory, a faster matrix product. The row's note says which BLAS ran.
"""

from __future__ import annotations

import ctypes.util
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import run_child

HIDDEN, VOCAB = 2560, 262208


def openblas() -> str | None:
    """The system OpenBLAS library to preload (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("openblas")
    if name is None:
        return None
    for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return None


def child(spec: dict) -> dict:
    from benchmarks.head_memory import measure

    return measure(
        spec["mode"], spec["seq"], HIDDEN, VOCAB, spec.get("chunk"), None, spec.get("seed", 0)
    )


def run_case(
    seq: int, chunks: list[int], workdir: Path, timeout: float, log=print
) -> dict[str, Any]:
    """mlx-lm's full-logits loss once, kazft's chunked loss at each chunk size."""
    blas = openblas()
    env = {"LD_PRELOAD": blas} if blas else None
    logdir = workdir / "logs"
    runs: list[tuple[str, dict]] = [("mlx-lm", {"mode": "full", "seq": seq})]
    runs += [(f"kazft-chunk{c}", {"mode": "chunked", "seq": seq, "chunk": c}) for c in chunks]
    out: dict[str, Any] = {"seq": seq, "hidden": HIDDEN, "vocab": VOCAB, "blas": blas}
    for label, spec in runs:
        try:
            res = run_child("head-measure", spec, logdir, f"head.{seq}.{label}", timeout, env)
            out[label] = {"result": res, "errors": []}
            log(f"  head/{seq} {label}: {res['peak_above_resident_gib']} GiB")
        except RuntimeError as err:
            out[label] = {"result": None, "errors": [str(err)]}
            log(f"  head/{seq} {label}: FAILED ({str(err).splitlines()[0]})")
    return out
