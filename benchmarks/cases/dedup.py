"""Near-duplicate removal: ``kazft data dedup`` on N records, as a user runs it.

The records are the dataprep case's synthetic ones with duplicates planted at
known places: 5 % exact copies and 5 % near copies (three words replaced, the
final punctuation changed). The command runs in a child process with the
progress bar forced on (its stderr goes to the log); we report records/s,
wall time, peak memory, and how many planted copies were removed. There is no
mlx-lm counterpart (mlx-lm has no dedup), so there is no ratio.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.synthetic import write_jsonl

SHARE = 0.05


def plant(records: list[dict], seed: int = 5) -> tuple[list[dict], int, int]:
    """Records with exact and near copies of earlier records appended at random places."""
    rng = random.Random(seed)
    out = [dict(r) for r in records]
    n = int(len(records) * SHARE)
    for _ in range(n):
        out.insert(rng.randrange(len(out) + 1), dict(rng.choice(records)))
    for _ in range(n):
        r = dict(rng.choice(records))
        words = r["output"].split()
        for _ in range(3):
            words[rng.randrange(len(words))] = rng.choice(words)
        r["output"] = " ".join(words).rstrip(".") + "!"
        out.insert(rng.randrange(len(out) + 1), r)
    return out, n, n


def run_case(records: list[dict], workdir: Path, log=print) -> dict[str, Any]:
    case = workdir / "dedup" / f"n{len(records)}"
    planted, n_exact, n_near = plant(records)
    src = write_jsonl(case / "records.jsonl", planted)
    out, clusters, err_log = case / "out.jsonl", case / "clusters.jsonl", case / "stderr.log"
    log(f"dedup/n{len(records)}: {len(planted)} records ({n_exact} exact + {n_near} near planted)")
    env = {**os.environ, "KAZFT_PROGRESS": "1", "COLUMNS": "100"}
    cmd = [sys.executable, "-m", "kazft", "data", "dedup", str(src), "-o", str(out)]
    cmd += ["--clusters", str(clusters)]
    t0 = time.perf_counter()
    with err_log.open("w") as fh:
        proc = subprocess.run(cmd, env=env, stderr=fh, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"records": len(planted), "error": err_log.read_text()[-2000:]}
    kept = sum(1 for _ in out.open(encoding="utf-8"))
    rows = [json.loads(x) for x in clusters.open(encoding="utf-8")]
    removed = [m for r in rows for m in r["removed"]]
    return {
        "records": len(planted),
        "planted_exact": n_exact,
        "planted_near": n_near,
        "removed_exact": sum(m["kind"] == "exact" for m in removed),
        "removed_near": sum(m["kind"] == "near" for m in removed),
        "kept": kept,
        "seconds": wall,
        "records_s": len(planted) / wall,
        # ru_maxrss of the largest child so far: kilobytes on Linux, bytes on macOS.
        "rss_peak_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        * (1 if sys.platform == "darwin" else 1024)
        / 1e9,
    }


def legal_like_records(n: int, seed: int) -> list[dict]:
    """Without a tokenizer: words of the legal sample drawn at random, each record as
    many words per field as a random real record has (for measuring this case alone)."""
    from benchmarks.synthetic import LEGAL

    rng = random.Random(seed)
    real = [json.loads(x) for x in LEGAL.open(encoding="utf-8")]
    fields = ("instruction", "input", "output")
    words = sorted({w for r in real for f in fields for w in (r.get(f) or "").split()})
    out = []
    for _ in range(n):
        model = rng.choice(real)
        rec = {f: " ".join(rng.choices(words, k=len((model.get(f) or "").split()))) for f in fields}
        out.append({**rec, "category": "synthetic"})
    return out


if __name__ == "__main__":
    # This case alone: python -m benchmarks.cases.dedup [N] [WORKDIR]
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    work = Path(sys.argv[2] if len(sys.argv) > 2 else "bench-work")
    print(json.dumps(run_case(legal_like_records(n, seed=3), work), indent=2))
