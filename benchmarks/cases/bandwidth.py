"""The machine's memory bandwidth, measured: the ceiling for decoding speed.

Decoding one token reads every weight once, so tokens/s can never exceed
bandwidth / bytes per token. Three measurements on an array far larger than
any cache (``size_mb``), best of ``repeats`` each:

* ``mlx_reduce``: ``mx.sum`` of a float32 array (reads it once) on MLX's
  default device: what MLX kernels can stream;
* ``mlx_copy``: ``x * 1`` materialised (one read + one write);
* ``numpy_threads``: ``np.copyto`` of per-core slices from one thread per core
  (one read + one write): what the memory system gives all cores together
  (CPU machines; on Apple Silicon the GPU figure above is the relevant one).

The reported limit is the largest of the three. Alongside, the 4-bit matmul
rate (``q4_gflops``: a (64, 2560) x (2560, 2560) group-64 quantised matmul in
``dtype``), the figure that bounds a training step on the 4B shapes.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np


def _best(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _q4_gflops(dtype: str, repeats: int) -> float:
    import mlx.core as mx

    dt = getattr(mx, dtype)
    x = mx.random.normal((64, 2560)).astype(dt)
    w = mx.random.normal((2560, 2560)).astype(dt)
    wq, scales, biases = mx.quantize(w, group_size=64, bits=4)
    mx.eval(x, wq, scales, biases)

    def mm() -> None:
        mx.eval(mx.quantized_matmul(x, wq, scales, biases, transpose=True, group_size=64, bits=4))

    mm()
    return 2 * 64 * 2560 * 2560 / _best(mm, repeats) / 1e9


def _mlx(n: int, repeats: int) -> dict[str, float]:
    import mlx.core as mx

    x = mx.random.uniform(shape=(n,), dtype=mx.float32)
    mx.eval(x)

    def reduce() -> None:
        mx.eval(mx.sum(x))

    def copy() -> None:
        mx.eval(x * 1.0)

    reduce()  # warm-up: compile, first touch
    copy()
    return {
        "mlx_reduce_gbs": x.nbytes / _best(reduce, repeats) / 1e9,
        "mlx_copy_gbs": 2 * x.nbytes / _best(copy, repeats) / 1e9,
    }


def _numpy_threads(n: int, repeats: int, threads: int) -> float:
    a = np.random.default_rng(0).random(n, dtype=np.float32)
    b = np.empty_like(a)
    bounds = np.linspace(0, n, threads + 1).astype(int)

    def copy() -> None:
        ts = [
            threading.Thread(target=np.copyto, args=(b[lo:hi], a[lo:hi]))
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    copy()
    return 2 * a.nbytes / _best(copy, repeats) / 1e9


def child(spec: dict) -> dict:
    import mlx.core as mx

    n = spec["size_mb"] * 1024 * 1024 // 4
    repeats = spec.get("repeats", 5)
    cores = os.cpu_count() or 1
    results: dict[str, Any] = _mlx(n, repeats)
    results["numpy_threads_gbs"] = _numpy_threads(n, repeats, cores)
    results["q4_gflops"] = _q4_gflops(spec.get("dtype", "float32"), repeats)
    results["threads"] = cores
    results["size_mb"] = spec["size_mb"]
    results["device"] = str(mx.default_device())
    results["limit_gbs"] = max(
        results["mlx_reduce_gbs"], results["mlx_copy_gbs"], results["numpy_threads_gbs"]
    )
    return results


def run_case(
    size_mb: int, repeats: int, workdir: Any, timeout: float, dtype: str = "float32", log=print
) -> dict:
    """Median of ``repeats`` child processes."""
    from benchmarks.harness import median, run_child

    runs = []
    for r in range(repeats):
        runs.append(
            run_child(
                "bandwidth",
                {"size_mb": size_mb, "repeats": 5, "dtype": dtype},
                workdir / "logs",
                f"bandwidth.r{r}",
                timeout,
            )
        )
    keys = ("mlx_reduce_gbs", "mlx_copy_gbs", "numpy_threads_gbs", "limit_gbs", "q4_gflops")
    out: dict[str, Any] = {k: median([x[k] for x in runs]) for k in keys}
    out.update(
        {
            "size_mb": size_mb,
            "repeats": repeats,
            "threads": runs[0]["threads"],
            "device": runs[0]["device"],
            "dtype": dtype,
        }
    )
    log(
        f"bandwidth: {out['limit_gbs']:.1f} GB/s (MLX sum {out['mlx_reduce_gbs']:.1f}, MLX copy "
        f"{out['mlx_copy_gbs']:.1f}, {out['threads']} numpy threads {out['numpy_threads_gbs']:.1f}); "
        f"4-bit matmul {out['q4_gflops']:.2f} GFLOP/s ({dtype})"
    )
    return out
