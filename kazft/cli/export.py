"""``kazft export RUN_OR_CHECKPOINT --format mlx|peft|fused|bundle --out PATH``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

FORMATS = ("mlx", "peft", "fused", "bundle", "gguf", "gguf-lora")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(args: argparse.Namespace) -> int:
    from kazft.errors import KazftError
    from kazft.export.source import load_source

    if args.format != "fused" and (args.quantize or args.dtype):
        raise KazftError("--quantize and --dtype apply only to --format fused")
    if args.format != "gguf" and (args.type or args.no_drift):
        raise KazftError("--type and --no-drift apply only to --format gguf")
    if args.with_ and args.format != "bundle":
        raise KazftError("--with applies only to --format bundle")
    out = Path(args.out) if args.out else _default_out(args)
    src = load_source(Path(args.source), base=args.base, revision=args.revision)
    what = f"{src.kind} {src.path}" + (f" (step {src.step})" if src.step is not None else "")
    print(
        f"exporting {what}: {src.parameter_count():,} adapter parameters, "
        f"rank {src.lora.rank}, scale {src.lora.scale:g}, base {src.base}"
    )
    if args.format == "mlx":
        from kazft.export.mlx import export_mlx

        export_mlx(src, out, force=args.force)
        print(
            f"wrote mlx-lm adapter to {out} ({_size(out):,} bytes); load it with "
            f"mlx_lm.load(BASE, adapter_path={str(out)!r})"
        )
    elif args.format == "peft":
        from kazft.export.peft import export_peft

        export_peft(src, out, force=args.force)
        print(
            f"wrote PEFT adapter to {out} ({_size(out):,} bytes); load it with "
            f"peft.PeftModel.from_pretrained(model, {str(out)!r})"
        )
    elif args.format == "fused":
        _fused(src, out, args)
    elif args.format == "gguf":
        from kazft.cli.export_gguf import export_gguf_cli

        export_gguf_cli(src, out, args.type or "f16", args.force, drift=not args.no_drift)
    elif args.format == "gguf-lora":
        from kazft.export.gguf_lora import export_gguf_lora

        info = export_gguf_lora(src, out, force=args.force)
        print(
            f"wrote adapter-only GGUF to {out} ({info['bytes']:,} bytes, {info['tensors']} "
            f"tensors, rank {info['rank']}, alpha {info['alpha']:g}); use it with the base "
            f"model's GGUF: llama-cli -m BASE.gguf --lora {out}"
        )
    else:
        from kazft.artifacts.hashing import sha256_file
        from kazft.export.bundle import export_bundle

        legal = {"auto": None, "yes": True, "no": False}[args.legal_notice]
        manifest = export_bundle(
            src,
            out,
            force=args.force,
            license_id=args.license,
            legal=legal,
            with_gguf=args.with_ == "gguf",
        )
        digest = f", SHA-256 {sha256_file(out)}" if out.is_file() else ""
        print(
            f"wrote bundle to {out}: {len(manifest['files'])} files, {_size(out):,} bytes"
            f"{digest}; check it with `kazft verify {out} --base {manifest['base_model']['id']}`"
        )
    return 0


def _default_out(args: argparse.Namespace) -> Path:
    """--out is needed except for GGUF, which defaults to RUN-TYPE.gguf here."""
    from kazft.errors import KazftError

    name = Path(args.source).resolve().name or "model"
    if args.format == "gguf":
        return Path(f"{name}-{args.type or 'f16'}.gguf")
    if args.format == "gguf-lora":
        return Path(f"{name}-lora.gguf")
    raise KazftError(f"--format {args.format} needs --out (a folder, or a .tar.gz for a bundle)")


def _fused(src: Any, out: Path, args: argparse.Namespace) -> None:
    from kazft.export.drift import measure_drift, validation_batches
    from kazft.export.fused import export_fused, fuse_in_place, load_as_trained, write_fused
    from kazft.export.output import atomic_folder

    dtype = args.dtype or "bfloat16"
    if not args.quantize:
        export_fused(src, out, dtype=dtype, force=args.force)
        print(
            f"wrote de-quantised fused model ({dtype}, Hugging Face layout) to {out} "
            f"({_size(out):,} bytes)"
        )
        return
    trained = src.quantize or {"bits": 4, "group_size": 64}
    q = {
        "bits": args.bits or trained["bits"],
        "group_size": args.group_size or trained["group_size"],
    }
    reference, tok = load_as_trained(src)
    fused = fuse_in_place(load_as_trained(src)[0], dtype, q)
    drift = measure_drift(reference, fused, validation_batches(src, tok))
    print(drift.report())
    if drift.erases_effect:
        print(
            f"warning: re-quantising to {q['bits']} bits erases a meaningful part of the "
            "adapter's effect (see above); ship the de-quantised fused model "
            "(omit --quantize) or the adapter instead"
        )
    with atomic_folder(out, args.force) as tmp:
        write_fused(src, fused, tmp, dtype, q)
    print(f"wrote {q['bits']}-bit fused model (mlx-lm layout) to {out} ({_size(out):,} bytes)")


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=(
            "Export a trained adapter. mlx: for mlx-lm and kazft. peft: for transformers + PEFT. "
            "fused: the adapter merged into the base (de-quantised; --quantize re-quantises and "
            "measures the drift). bundle: both adapters, a model card and a manifest of hashes, "
            "as a folder or a .tar.gz (OUT ending in .tar.gz). gguf: the merged model as one "
            "GGUF file for llama.cpp, LM Studio and Ollama (with a Modelfile). gguf-lora: the "
            "adapter alone as GGUF, for llama.cpp's --lora on the base model's GGUF."
        ),
    )
    p.add_argument(
        "source",
        metavar="RUN_OR_CHECKPOINT",
        help="a run folder, a checkpoint folder, or an mlx adapter folder",
    )
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument(
        "--out",
        help="output folder (bundle: folder or .tar.gz; gguf: a .gguf file, default RUN-TYPE.gguf)",
    )
    p.add_argument("--base", help="base model, if not the one the run recorded")
    p.add_argument("--revision", help="hub revision of --base")
    p.add_argument(
        "--dtype",
        choices=["bfloat16", "float32", "float16"],
        help="fused: weight dtype (default bfloat16)",
    )
    p.add_argument(
        "--quantize",
        action="store_true",
        help="fused: re-quantise (mlx-lm layout) and report the drift",
    )
    p.add_argument(
        "--bits",
        type=int,
        choices=[2, 3, 4, 5, 6, 8],
        help="fused --quantize: bits (default: the training quantisation, else 4)",
    )
    p.add_argument(
        "--group-size",
        type=int,
        choices=[32, 64, 128],
        help="fused --quantize: group size (default: training's, else 64)",
    )
    p.add_argument(
        "--license",
        help="bundle: the model card's license field (default: gemma for Gemma bases, else other)",
    )
    p.add_argument(
        "--legal-notice",
        choices=["auto", "yes", "no"],
        default="auto",
        help="bundle: the not-legal-advice notice (auto: when the data looks legal)",
    )
    p.add_argument(
        "--type",
        choices=["f16", "bf16", "q8_0", "q4_k_m"],
        help="gguf: f16 (default; the reference), bf16, q8_0 (half the size, small drift) or "
        "q4_k_m (llama.cpp's quantiser, about a third; needs llama-cpp-python)",
    )
    p.add_argument(
        "--no-drift",
        action="store_true",
        help="gguf: skip measuring the GGUF's logit drift on the validation records",
    )
    p.add_argument(
        "--with",
        dest="with_",
        choices=["gguf"],
        help="bundle: also ship the merged model as GGUF (f16) with its Ollama Modelfile",
    )
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)
