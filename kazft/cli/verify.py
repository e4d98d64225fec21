"""``kazft verify BUNDLE [--base MODEL]``: check a bundle's hashes and base model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> int:
    from kazft.artifacts.manifest import verify_bundle

    base_folder = None
    if args.base:
        from kazft.model.load import resolve_model

        base_folder = resolve_model(args.base, args.revision)
    info = verify_bundle(Path(args.bundle), base_folder=base_folder)
    m = info.manifest
    rev = f" revision {info.revision}" if info.revision else ""
    print(
        f"OK {args.bundle}: {info.files_checked} files match manifest.json "
        f"(kazft {m.get('kazft_version')})"
    )
    if info.base_checked:
        print(
            f"OK base model {args.base}: config, tokenizer and chat template match "
            f"{info.base_model}{rev}"
        )
    else:
        print(f"base model: {info.base_model}{rev} (not checked; pass --base MODEL to check it)")
    lora, adapter = m.get("lora", {}), m.get("adapter", {})
    q = m.get("quantization")
    print(
        f"adapter: {adapter.get('parameters', 0):,} parameters, LoRA rank {lora.get('rank')} "
        f"scale {lora.get('scale')}, trained on a "
        + (f"{q['bits']}-bit base" if q else "full-precision base")
    )
    return 0


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=(
            "Check every file of a bundle against its manifest.json (SHA-256), refuse pickle "
            "weights, links and unlisted files, and with --base check that MODEL is the base "
            "model the adapter was trained on."
        ),
    )
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder or .tar.gz")
    p.add_argument("--base", metavar="MODEL", help="hub id, local folder or kazft:tiny")
    p.add_argument("--revision", help="hub revision of --base")
    p.set_defaults(func=run)
