"""``python -m benchmarks.child KIND SPEC.json``: one measurement, in its own process.

Prints ``BENCH_RESULT {json}`` as its last line: the case's own numbers plus
``mlx_peak_bytes`` (``mx.get_peak_memory()``) and ``rss_self_bytes``, this
process's peak RSS. On Linux that is ``VmHWM`` of /proc/self/status: the
high-water mark of this process's own memory map. ``getrusage``'s ``ru_maxrss``
is not used there because Linux carries it over from the parent through
fork + exec (a child of a 6 GB parent reports at least 6 GB); macOS has no
/proc, so ``ru_maxrss`` it is (the parent stays small: models are built in
children too).
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
from pathlib import Path

from benchmarks.harness import RESULT_TAG, max_rss_bytes

# kind -> (module, function taking the spec dict and returning a dict)
KINDS = {
    "kazft-train": ("benchmarks.cases.train", "child_kazft"),
    "mlxlm-train": ("benchmarks.cases.train", "child_mlxlm"),
    "kazft-prime": ("benchmarks.cases.train", "child_prime"),
    "kazft-generate": ("benchmarks.cases.generate", "child_kazft"),
    "mlxlm-generate": ("benchmarks.cases.generate", "child_mlxlm"),
    "kazft-dataprep": ("benchmarks.cases.dataprep", "child_kazft"),
    "mlxlm-dataprep": ("benchmarks.cases.dataprep", "child_mlxlm"),
    "bandwidth": ("benchmarks.cases.bandwidth", "child"),
    "head-measure": ("benchmarks.cases.head", "child"),
    "layer-measure": ("benchmarks.cases.layer", "child"),
    "build-model": ("benchmarks.models", "child_build"),
    "kazft-train-ranks": ("benchmarks.cases.distributed", "child_kazft"),
    "mlxlm-train-ranks": ("benchmarks.cases.distributed", "child_mlxlm"),
}


def peak_rss_bytes() -> int:
    """This process's own peak resident set size."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return max_rss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in KINDS:
        print(f"usage: python -m benchmarks.child {{{','.join(KINDS)}}} SPEC.json", file=sys.stderr)
        return 2
    module, func = KINDS[argv[0]]
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    result = getattr(importlib.import_module(module), func)(spec)
    import mlx.core as mx

    result.setdefault("mlx_peak_bytes", int(mx.get_peak_memory()))
    result["rss_self_bytes"] = peak_rss_bytes()
    sys.stdout.flush()
    print(RESULT_TAG + json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
