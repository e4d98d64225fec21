"""The LM head + cross-entropy alone at the real vocabulary, forward and backward.

kazft's chunked loss (kazft.train.chunked_ce) against mlx-lm's default loss
(the full logits), each in its own process, on random fp32 weights with the
4B's hidden size and vocabulary, as a bench case with both tools' rows. The
figure is the MLX peak above what was resident before the step (the head's
weights and the inputs).

By hand: ``python -m benchmarks.cases.head --seq 2048 [--chunk N] [--modes
full,chunked] [--trained 0.5 --compiled]`` runs each mode in its own process
(fresh allocator, fresh peak counter) and prints one JSON line per mode:

* ``full``: mlx-lm's default loss on the head: ``logits = h @ W.T``, cast to
  fp32, ``nn.losses.cross_entropy``, masked sum; gradient w.r.t. the hidden
  states only (the tied embedding is frozen under LoRA);
* ``chunked``: kazft.train.chunked_ce.chunked_cross_entropy, same loss; with
  ``--compiled`` inside ``mx.compile`` as the training step runs it, where
  the mask cannot be read, so every position goes through the head;
* ``chunked-rows``: the same, given the trained rows (``trained_rows`` of the
  mask) as the training step passes them: only those go through the head.

``--trained F`` trains the last fraction F of the positions (the prompt comes
first, as in a chat row); with ``--compiled``, ``seconds`` includes the
tracing of the first call.

Only memory is compared. On a Linux CPU machine the mlx[cpu] wheel's reference
BLAS (about 2.2 GFLOP/s) would need roughly 40 minutes for one 2048-token head
step (5.5 TFLOP, computed), so when the system has
OpenBLAS the children preload it (``LD_PRELOAD``): the same computation and
memory, a faster matrix product. The row's note says which BLAS ran.
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import subprocess
import sys
import time
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


def measure(
    mode: str,
    seq: int,
    hidden: int,
    vocab: int,
    chunk: int | None,
    limit_mib: int | None,
    seed: int,
    trained: float = 1.0,
    compiled: bool = False,
) -> dict:
    """One forward + backward of the head and loss on random fp32 weights."""
    import mlx.core as mx
    import mlx.nn as nn
    import numpy as np

    from kazft.train.chunked_ce import Head, auto_chunk, chunked_cross_entropy, trained_rows

    # numpy draws the 671M weights in seconds where MLX's CPU generator takes minutes.
    rng = np.random.default_rng(seed)
    w_np = rng.standard_normal((vocab, hidden), dtype=np.float32)
    w_np *= 0.02
    w = mx.array(w_np)  # (V, H) fp32
    del w_np
    h = mx.array(rng.standard_normal((1, seq, hidden), dtype=np.float32))  # (1, L, H)
    t = mx.array(rng.integers(0, vocab, (1, seq), dtype=np.int32))
    m_np = np.zeros((1, seq), np.float32)
    m_np[:, seq - round(trained * seq) :] = 1.0  # the prompt comes first
    m, rows = mx.array(m_np), mx.array(trained_rows(m_np))
    mx.eval(w, h, t, m, rows)
    resident = mx.get_active_memory()
    if limit_mib is not None:
        mx.set_memory_limit(resident + limit_mib * 2**20)
    chunk = chunk or auto_chunk(vocab)

    def loss_full(h: mx.array, t: mx.array, m: mx.array, r: mx.array) -> mx.array:
        logits = (h @ w.T).astype(mx.float32)  # (1, L, V)
        return (nn.losses.cross_entropy(logits, t, reduction="none") * m).sum()

    def loss_chunked(h: mx.array, t: mx.array, m: mx.array, r: mx.array) -> mx.array:
        return (chunked_cross_entropy(h, Head(w), t, m, chunk=chunk) * m).sum()

    def loss_rows(h: mx.array, t: mx.array, m: mx.array, r: mx.array) -> mx.array:
        return (chunked_cross_entropy(h, Head(w), t, m, chunk=chunk, rows=r) * m).sum()

    loss = {"full": loss_full, "chunked": loss_chunked, "chunked-rows": loss_rows}[mode]
    fn = mx.value_and_grad(loss)
    if compiled:
        fn = mx.compile(fn)  # the first call traces it too: small next to the head's products
    mx.reset_peak_memory()
    start = time.perf_counter()
    value, grad = fn(h, t, m, rows)
    mx.eval(value, grad)
    seconds = time.perf_counter() - start
    peak = mx.get_peak_memory()
    return {
        "mode": mode,
        "seq": seq,
        "hidden": hidden,
        "vocab": vocab,
        "chunk": chunk if mode != "full" else None,
        "trained_positions": int(m_np.sum()),
        "head_rows": int(rows.shape[0]) if mode == "chunked-rows" else seq,
        "compiled": compiled,
        "memory_limit_mib": limit_mib,
        "weights_bytes": w.nbytes,
        "resident_before_bytes": resident,
        "peak_bytes": peak,
        "peak_above_resident_gib": round((peak - resident) / 2**30, 4),
        "seconds": round(seconds, 2),
        "device": str(mx.default_device()),
        "loss": value.item(),
        "grad_norm": mx.linalg.norm(grad).item(),
    }


def child(spec: dict) -> dict:
    return measure(
        spec["mode"],
        spec["seq"],
        spec.get("hidden", HIDDEN),
        spec.get("vocab", VOCAB),
        spec.get("chunk"),
        spec.get("memory_limit_mib"),
        spec.get("seed", 0),
        spec.get("trained", 1.0),
        spec.get("compiled", False),
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=HIDDEN)
    p.add_argument("--vocab", type=int, default=VOCAB)
    p.add_argument("--chunk", type=int, default=None, help="positions per chunk (default: auto)")
    p.add_argument("--memory-limit-mib", type=int, default=None)
    p.add_argument("--modes", default="full,chunked")
    p.add_argument("--trained", type=float, default=1.0, help="trained fraction of positions")
    p.add_argument("--compiled", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    blas = openblas()
    for mode in a.modes.split(","):
        spec = {
            "mode": mode,
            "seq": a.seq,
            "hidden": a.hidden,
            "vocab": a.vocab,
            "chunk": a.chunk,
            "memory_limit_mib": a.memory_limit_mib,
            "seed": a.seed,
            "trained": a.trained,
            "compiled": a.compiled,
        }
        code = (
            "import json, sys; from benchmarks.cases.head import child; "
            "print(json.dumps(child(json.loads(sys.argv[1]))))"
        )
        env = None
        if blas:
            import os

            env = {**os.environ, "LD_PRELOAD": blas}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True, env=env
        )
        if out.returncode != 0:
            print(json.dumps({"mode": mode, "error": out.stderr.strip().splitlines()[-1:]}))
            continue
        print(out.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
