"""``kazft train RECIPE [--set k=v ...] [--resume [CHECKPOINT|latest]]``."""

from __future__ import annotations

import argparse
import shlex
from typing import Any


def resume_command(args: argparse.Namespace) -> str:
    """The exact command that continues this run (printed on Ctrl-C)."""
    parts = ["kazft", "train", args.recipe]
    for item in args.set or []:
        parts += ["--set", item]
    parts += ["--resume", "latest"]
    if args.force:
        parts.append("--force")
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from kazft.recipe import load_recipe
    from kazft.train.trainer import train

    recipe = load_recipe(args.recipe, args.set)
    train(
        recipe,
        resume=args.resume,
        force=args.force,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        resume_command=resume_command(args),
    )
    return 0


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=(
            "Train QLoRA adapters as the recipe says: quantise the base once (cached), add "
            "LoRA, train with AdamW, validate, and write full-state checkpoints that resume "
            "exactly. Ctrl-C finishes the step, saves, and prints the command that resumes."
        ),
    )
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one recipe key, e.g. --set train.learning_rate=2e-4 (repeatable)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="CHECKPOINT",
        help="continue from a checkpoint: latest (the default), a folder, or "
        "a name such as step-000200",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="resume even though the recipe or data changed in a way that "
        "makes the result differ from an uninterrupted run",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh, deleting the checkpoints of a previous run in output.dir",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (report lines are still printed)",
    )
    p.set_defaults(func=run)
