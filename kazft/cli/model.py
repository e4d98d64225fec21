"""``kazft model tiny OUT``: build the embedded tiny Gemma 3."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def run_tiny(args: argparse.Namespace) -> int:
    from kazft.model.tiny import build

    t0 = time.perf_counter()
    out = build(
        Path(args.out),
        layout=args.layout,
        seed=args.seed,
        size=args.size,
        dtype=args.dtype,
        force=args.force,
    )
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(
        f"wrote {args.size} {args.layout} model (seed {args.seed}, {args.dtype}) to {out}: "
        f"{size / 2**20:.1f} MiB in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    t = verbs.add_parser(
        "tiny",
        help="build a random-weight Gemma 3 in the real on-disk layout (offline, seconds)",
        description="Build a random-weight Gemma 3 (config, sharded SafeTensors, Gemma "
        "tokenizer and chat template) that loads like google/gemma-3-4b-it.",
    )
    t.add_argument("out", help="output folder")
    t.add_argument(
        "--layout",
        choices=["gemma3", "gemma3_text"],
        default="gemma3",
        help="gemma3: multimodal layout of gemma-3-4b-it (default); "
        "gemma3_text: text-only checkpoint",
    )
    t.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    t.add_argument(
        "--size",
        choices=["tiny", "mid", "gemma-3-4b"],
        default="tiny",
        help="tiny (default), mid, or the real Gemma 3 4B shapes (large!)",
    )
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    t.add_argument("--force", action="store_true", help="replace OUT if it exists")
    t.set_defaults(func=run_tiny)
