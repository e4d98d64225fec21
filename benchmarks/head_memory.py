"""Peak memory of the LM head + cross-entropy, forward and backward.

``python -m benchmarks.head_memory [--seq 2048] [--hidden 2560] [--vocab 262208]
[--chunk auto|N] [--memory-limit-mib N] [--modes full,chunked]``

Each mode runs in its own process (fresh allocator, fresh peak counter) on
random fp32 weights and prints one JSON line:

* ``full``: mlx-lm's default loss on the head: ``logits = h @ W.T``, cast to
  fp32, ``nn.losses.cross_entropy``, masked sum; gradient w.r.t. the hidden
  states only (the tied embedding is frozen under LoRA);
* ``chunked``: kazft.train.chunked_ce.chunked_cross_entropy, same loss.

``peak_above_resident_gib`` is ``mx.get_peak_memory()`` minus what was
resident when the counter was reset (the weights and the inputs, already
evaluated): the head's own working set on top of the weights. The loss and
gradient norm are printed so the two modes can be compared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def measure(
    mode: str,
    seq: int,
    hidden: int,
    vocab: int,
    chunk: int | None,
    limit_mib: int | None,
    seed: int,
) -> dict:
    import mlx.core as mx
    import mlx.nn as nn
    import numpy as np

    from kazft.train.chunked_ce import Head, auto_chunk, chunked_cross_entropy

    # numpy draws the 671M weights in seconds where MLX's CPU generator takes minutes.
    rng = np.random.default_rng(seed)
    w_np = rng.standard_normal((vocab, hidden), dtype=np.float32)
    w_np *= 0.02
    w = mx.array(w_np)  # (V, H) fp32
    del w_np
    h = mx.array(rng.standard_normal((1, seq, hidden), dtype=np.float32))  # (1, L, H)
    t = mx.array(rng.integers(0, vocab, (1, seq), dtype=np.int32))
    m = mx.ones((1, seq))
    mx.eval(w, h, t, m)
    resident = mx.get_active_memory()
    if limit_mib is not None:
        mx.set_memory_limit(resident + limit_mib * 2**20)
    chunk = chunk or auto_chunk(vocab)

    def loss_full(h: mx.array) -> mx.array:
        logits = (h @ w.T).astype(mx.float32)  # (1, L, V)
        return (nn.losses.cross_entropy(logits, t, reduction="none") * m).sum()

    def loss_chunked(h: mx.array) -> mx.array:
        return (chunked_cross_entropy(h, Head(w), t, m, chunk=chunk) * m).sum()

    fn = mx.value_and_grad(loss_full if mode == "full" else loss_chunked)
    mx.reset_peak_memory()
    start = time.perf_counter()
    loss, grad = fn(h)
    mx.eval(loss, grad)
    seconds = time.perf_counter() - start
    peak = mx.get_peak_memory()
    return {
        "mode": mode,
        "seq": seq,
        "hidden": hidden,
        "vocab": vocab,
        "chunk": chunk if mode == "chunked" else None,
        "memory_limit_mib": limit_mib,
        "weights_bytes": w.nbytes,
        "resident_before_bytes": resident,
        "peak_bytes": peak,
        "peak_above_resident_gib": round((peak - resident) / 2**30, 4),
        "seconds": round(seconds, 2),
        "device": str(mx.default_device()),
        "loss": loss.item(),
        "grad_norm": mx.linalg.norm(grad).item(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=2560)
    p.add_argument("--vocab", type=int, default=262208)
    p.add_argument("--chunk", default="auto")
    p.add_argument(
        "--memory-limit-mib",
        type=int,
        default=None,
        help="mx.set_memory_limit(resident + N MiB) before the step",
    )
    p.add_argument("--modes", default="full,chunked")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    chunk = None if a.chunk == "auto" else int(a.chunk)
    if a.child:
        print(
            json.dumps(
                measure(a.child, a.seq, a.hidden, a.vocab, chunk, a.memory_limit_mib, a.seed)
            )
        )
        return 0
    for mode in a.modes.split(","):
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.head_memory",
            "--child",
            mode,
            "--seq",
            str(a.seq),
            "--hidden",
            str(a.hidden),
            "--vocab",
            str(a.vocab),
            "--chunk",
            a.chunk,
            "--seed",
            str(a.seed),
        ]
        if a.memory_limit_mib is not None:
            cmd += ["--memory-limit-mib", str(a.memory_limit_mib)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(json.dumps({"mode": mode, "error": out.stderr.strip().splitlines()[-1:]}))
            continue
        print(out.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
