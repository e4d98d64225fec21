"""``kazft train RECIPE [--set k=v ...] [--resume [CHECKPOINT|latest]]``."""

from __future__ import annotations

import argparse
import os
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


def rank_args(args: argparse.Namespace) -> list[str]:
    """The arguments every rank gets: this command's, without the launch options."""
    parts = [args.recipe]
    for item in args.set or []:
        parts += ["--set", item]
    if args.resume is not None:
        parts += ["--resume", args.resume]
    parts += ["--force"] if args.force else []
    parts += ["--overwrite"] if args.overwrite else []
    parts += ["--no-progress"] if args.no_progress else []
    if args.step_timeout is not None:
        parts += ["--step-timeout", f"{args.step_timeout:g}"]
    return parts


def run(args: argparse.Namespace) -> int:
    from kazft.errors import KazftError
    from kazft.recipe import load_recipe
    from kazft.train import launch, world

    recipe = load_recipe(args.recipe, args.set)  # checked before any rank starts
    if args.processes is not None and args.processes < 1:
        raise KazftError(f"-n {args.processes}: the number of processes must be at least 1")
    if args.hosts and args.processes:
        raise KazftError("-n and --hosts contradict each other; the hostfile sets the ranks")
    wants_ranks = args.hosts or (args.processes or 1) > 1
    if wants_ranks and not world.launched():
        if args.hosts:
            launch.read_hostfile(args.hosts)
        cmd = launch.launch_command(
            rank_args(args), processes=args.processes, hostfile=args.hosts, port=args.port
        )
        return launch.run_launcher(cmd)

    from kazft.train.trainer import train

    me = world.join(args.step_timeout)
    if me.size > 1:
        import socket
        import sys

        # mlx.launch relays each rank's output through a pipe: send it line by line.
        for stream in (sys.stdout, sys.stderr):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(line_buffering=True)

        print(
            f"rank {me.rank} of {me.size} (pid {os.getpid()} on {socket.gethostname()}) "
            + ("reports progress and writes the run" if me.main else "trains; rank 0 reports"),
            flush=True,
        )
    try:
        train(
            recipe,
            resume=args.resume,
            force=args.force,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            resume_command=resume_command(args)
            + (f" {os.environ.get('KAZFT_LAUNCH', '')}".rstrip() if me.size > 1 else ""),
            world=me,
        )
    except KazftError as err:
        if me.size > 1:  # say which rank: every rank's output reaches one terminal
            err.args = (f"rank {me.rank} of {me.size}: {err}",)
        raise
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
    p.add_argument(
        "-n",
        "--processes",
        type=int,
        metavar="N",
        help="train with N processes on this machine (mlx.launch, ring backend); the "
        "recipe's batch stays the global batch",
    )
    p.add_argument(
        "--hosts",
        metavar="HOSTS_JSON",
        help="train across the machines of an mlx.launch hostfile (IP addresses; "
        "docs/distributed.md)",
    )
    p.add_argument(
        "--port", type=int, help="first port of the ring backend (default: 32323 with --hosts)"
    )
    p.add_argument(
        "--step-timeout",
        type=float,
        metavar="SECONDS",
        help="with several ranks: give up on the others after this long in one step "
        "(default 900) and exit naming the missing rank",
    )
    p.set_defaults(func=run)
