"""``kazft chat``: an interactive multi-turn session with base + adapter."""

from __future__ import annotations

import argparse
from typing import Any

from kazft.cli.generate import add_model_args, describe, load_from_args


def run(args: argparse.Namespace) -> int:
    from kazft.generate.chat import ChatSession
    from kazft.generate.repl import run_repl, terminal

    engine, source, sampling = load_from_args(args, announce=False)
    session = ChatSession(engine=engine, data=source.data, sampling=sampling)
    banner = f"kazft chat: {describe(engine)}\n/help for commands, Ctrl-D to leave."
    return run_repl(session, terminal(), quiet=args.quiet, as_json=args.json, banner=banner)


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text + ". Commands: /reset, /system [TEXT|off], "
        "/save FILE, /help, /quit. The conversation is kept in the chat template and the "
        "KV cache is reused between turns.",
    )
    add_model_args(p)
    p.set_defaults(func=run)
