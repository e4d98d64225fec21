"""The ``kazft`` command line.

Each sub-command lives in its own module under ``kazft.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function
taking the parsed ``argparse.Namespace`` and returning an exit code. Modules
are imported lazily (only the chosen command's heavy imports, such as mlx, are
paid for), so ``kazft data ...`` never imports mlx.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from kazft import __version__
from kazft.errors import Interrupted, KazftError

# transformers' "PyTorch was not found" advice is for its model classes, which kazft
# never uses (MLX runs the model); mlx-lm sets the same, but only once it is imported.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

# (command name, module under kazft.cli, one-line help). Order = order in --help.
COMMANDS: list[tuple[str, str, str]] = [
    ("doctor", "doctor", "report platform, MLX device, memory and caches"),
    ("model", "model", "model utilities (build the embedded tiny Gemma 3)"),
    ("data", "data", "check training data and clean Kazakh text"),
    ("train", "train", "train QLoRA adapters from a recipe (checkpoints, exact resume)"),
    ("generate", "generate", "answer questions with a base model plus adapter (streaming, batch)"),
    ("chat", "chat", "interactive multi-turn chat with a base model plus adapter"),
    ("eval", "eval", "compare base and base + adapter: metrics, categories, retention, report"),
    ("export", "export", "export an adapter: mlx-lm, PEFT, fused model, or verified bundle"),
    ("verify", "verify", "check a bundle's file hashes and, with --base, its base model"),
    ("serve", "serve", "serve the base model and its adapters behind an OpenAI-compatible API"),
    ("review", "review", "lawyers rate an adapter blind against another system, with intervals"),
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kazft",
        description="Fine-tune Gemma 3 with QLoRA on Apple Silicon (MLX).",
    )
    parser.add_argument("--version", action="version", version=f"kazft {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        if only is not None and name != only:
            # Keep --help complete without importing every command module.
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(f"kazft.cli.{module}")
        mod.register(sub, name, help_text)
    return parser


def _innermost(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The deepest sub-command parser that ``argv`` names (kazft, kazft data, kazft data check)."""
    for token in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and token in subs[0].choices:
            parser = subs[0].choices[token]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    known = {name for name, _, _ in COMMANDS}
    # Import only the chosen command's module; --help and typos need none.
    parser = build_parser(only=chosen if chosen in known else "")
    args, unknown = parser.parse_known_args(args_list)
    if unknown:
        # Show the usage of the (sub)command that was given the stray option, not kazft's.
        _innermost(parser, args_list).error(f"unrecognized arguments: {' '.join(unknown)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(func(args) or 0)
    except Interrupted as err:
        # Not an error: the run stopped on request and saved a resumable checkpoint.
        print(f"kazft: {err}", file=sys.stderr)
        return err.exit_code
    except KazftError as err:
        print(f"kazft: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("kazft: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as err:
        # A path the user gave that is missing, or a folder where a file goes (or the
        # reverse): commands check their own paths; this is the backstop, one line.
        if err.filename is None:
            raise
        why = (err.strerror or type(err).__name__).lower()
        print(f"kazft: error: {err.filename}: {why}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `kazft ... | head` closed the pipe: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
