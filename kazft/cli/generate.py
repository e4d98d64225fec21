"""``kazft generate``: answer a question (or a JSONL file of them) with base + adapter.

The model options are shared with ``kazft chat`` (add_model_args / load_from_args).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kazft.errors import KazftError


def add_model_args(p: argparse.ArgumentParser) -> None:
    m = p.add_argument_group("model (a recipe, or an explicit base and adapter)")
    m.add_argument(
        "--recipe",
        "-r",
        metavar="NAME",
        help="recipe name or path: its base, quantisation, prompt settings and the "
        "newest adapter in its output.dir",
    )
    m.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one recipe key (repeatable)",
    )
    m.add_argument(
        "--model",
        "-m",
        metavar="BASE",
        help="base model: Hugging Face id, local folder or kazft:tiny "
        "(default: the recipe's or the adapter's base)",
    )
    m.add_argument("--revision", help="hub revision of --model")
    m.add_argument(
        "--adapter",
        "-a",
        metavar="PATH",
        help="run folder, checkpoint folder, mlx adapter folder or bundle (.tar.gz)",
    )
    m.add_argument("--no-adapter", action="store_true", help="answer with the base model alone")
    m.add_argument(
        "--quantize",
        metavar="none|BITS[:GROUP]",
        help="quantise the base at load (default: as the adapter was trained)",
    )
    m.add_argument(
        "--allow-other-base",
        action="store_true",
        help="accept --model although the adapter names another base (same model, "
        "stored elsewhere); shapes are still checked",
    )
    m.add_argument(
        "--max-context",
        type=int,
        metavar="N",
        help="limit prompt + answer to N tokens (default: the model's context)",
    )
    s = p.add_argument_group("generation")
    s.add_argument(
        "--system", metavar="TEXT", help='system prompt (default: the recipe\'s; "" for none)'
    )
    s.add_argument(
        "--max-tokens",
        type=int,
        default=512,
        metavar="N",
        help="most tokens to generate (default 512)",
    )
    s.add_argument(
        "--temperature",
        "--temp",
        type=float,
        default=0.0,
        metavar="T",
        help="sampling temperature; 0 = greedy (default)",
    )
    s.add_argument(
        "--top-p",
        type=float,
        default=1.0,
        metavar="P",
        help="nucleus sampling mass, with --temperature > 0 (default 1.0 = off)",
    )
    s.add_argument(
        "--seed",
        type=int,
        default=None,
        help="sampling seed (default: the recipe's train.seed, else 0)",
    )
    o = p.add_argument_group("output")
    o.add_argument(
        "--quiet", "-q", action="store_true", help="no statistics, progress or notes on stderr"
    )
    o.add_argument("--json", action="store_true", help="machine-readable output")


def load_from_args(
    args: argparse.Namespace, announce: bool = True, resolved: tuple[Any, Any] | None = None
) -> tuple[Any, Any, Any]:
    """(engine, source, sampling) from the shared options (``resolved``: source_from_args's)."""
    from kazft.generate.engine import load_engine

    source, sampling = resolved or source_from_args(args)
    engine = load_engine(
        source, max_context=args.max_context, allow_other_base=args.allow_other_base
    )
    if announce and not (args.quiet or args.json):
        print(f"kazft: {describe(engine)}", file=sys.stderr)
    return engine, source, sampling


def source_from_args(args: argparse.Namespace) -> tuple[Any, Any]:
    """(source, sampling): every argument checked, nothing loaded yet."""
    from kazft.generate.engine import Sampling
    from kazft.generate.source import resolve_source

    if args.max_tokens < 1:
        raise KazftError(f"--max-tokens {args.max_tokens}: must be at least 1")
    if args.temperature < 0:
        raise KazftError(f"--temperature {args.temperature}: must be >= 0 (0 = greedy)")
    if not 0.0 < args.top_p <= 1.0:
        raise KazftError(f"--top-p {args.top_p}: must be in (0, 1]")
    if args.max_context is not None and args.max_context < 2:
        raise KazftError(f"--max-context {args.max_context}: must be at least 2")
    source = resolve_source(
        recipe=args.recipe,
        overrides=args.set,
        model=args.model,
        revision=args.revision,
        adapter=args.adapter,
        no_adapter=args.no_adapter,
        quantize=args.quantize,
        system=args.system,
    )
    seed = args.seed if args.seed is not None else source.seed
    sampling = Sampling(
        max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p, seed=seed
    )
    return source, sampling


def describe(engine: Any) -> str:
    src = engine.source
    q = src.quantize
    text = f"{src.base}" + (f" ({q.bits}-bit)" if q is not None else "")
    if src.adapter is None:
        return text + ", no adapter"
    a = engine.applied
    how = []
    if a.merged:
        how.append(f"{a.merged} adapted projections merged")
    if a.side_path:
        how.append(f"{a.side_path} adapted projections as a low-rank side path (quantised base)")
    where = src.adapter.source or src.adapter.folder
    return f"{text} + {src.adapter.kind} {where}: rank {a.rank}, {', '.join(how)}"


def _question(args: argparse.Namespace) -> str:
    if args.question is not None:
        return str(args.question)
    if sys.stdin.isatty():
        raise KazftError(
            "no question: give it as an argument (kazft generate --recipe legal "
            '"..."), on stdin, or a JSONL file with --input'
        )
    return sys.stdin.read().strip()


def run(args: argparse.Namespace) -> int:
    from kazft.generate.prompt import prompt_ids, question_messages

    if args.input is not None:
        if args.question is not None or args.input_text is not None:
            raise KazftError(
                "--input answers a JSONL file; drop the question argument "
                "(or --input-text), or drop --input"
            )
        if args.output is None:
            raise KazftError("--input needs --output FILE for the answers")
        return _run_batch(args)
    if args.output is not None or args.overwrite or args.force:
        raise KazftError("--output, --overwrite and --force go with --input FILE (batch mode)")
    question = _question(args)
    engine, source, sampling = load_from_args(args)
    messages = question_messages(source.data, question, args.input_text or "")
    _, ids = prompt_ids(engine.tokenizer, messages)
    streamed = False

    def stream(text: str) -> None:
        nonlocal streamed
        streamed = streamed or bool(text)
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        gen = engine.generate(ids, sampling, on_text=None if args.json else stream)
    except KeyboardInterrupt:
        if streamed:  # end the half answer's line, so "interrupted" stands on its own
            sys.stdout.write("\n")
            sys.stdout.flush()
        raise
    if args.json:
        print(json.dumps({"generated": gen.text, **gen.stats.as_dict()}, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        if not args.quiet:
            print(gen.stats.line(), file=sys.stderr)
    return 0


def _run_batch(args: argparse.Namespace) -> int:
    from kazft.generate.batch import preflight, run_batch

    resolved = source_from_args(args)
    # Paths, questions and earlier answers are checked before the model loads.
    questions = preflight(args.input, Path(args.output), *resolved, args.overwrite, args.force)
    engine, source, sampling = load_from_args(args, resolved=resolved)
    summary = run_batch(
        engine,
        source.data,
        sampling,
        args.input,
        Path(args.output),
        overwrite=args.overwrite,
        force=args.force,
        questions=questions,
        progress=not (args.quiet or args.json),
        note=(lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr)),
    )
    if args.json:
        print(json.dumps(summary.as_dict()))
    elif not args.quiet:
        print(summary.line(), file=sys.stderr)
    return 0


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text + ". The question is asked the way the "
        "model was trained: the recipe's system prompt and instruction/input template, "
        "through the model's chat template.",
    )
    p.add_argument("question", nargs="?", help="the question (default: read from stdin)")
    p.add_argument(
        "--input-text",
        metavar="TEXT",
        help="the record's input field (e.g. the statute), placed by the template",
    )
    b = p.add_argument_group("batch mode")
    b.add_argument(
        "--input",
        "-i",
        metavar="FILE",
        help="JSONL of {instruction, input} records to answer ('-' = stdin)",
    )
    b.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help='JSONL of the same records plus "generated" (resumes if present)',
    )
    b.add_argument(
        "--overwrite", action="store_true", help="answer every record again instead of resuming"
    )
    b.add_argument(
        "--force",
        action="store_true",
        help="resume although the earlier answers came from another model, adapter, prompt "
        "or sampling settings (each answer records its own in generated_by)",
    )
    add_model_args(p)
    p.set_defaults(func=run)
