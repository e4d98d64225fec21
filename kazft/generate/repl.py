"""The ``kazft chat`` loop: plain lines in, streamed answers out.

Works in any terminal (no full-screen UI): line editing via readline where
Python has it, answers streamed to stdout, statistics and notes on stderr.
A line ending in a backslash continues on the next line.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from typing import TextIO

from kazft.errors import KazftError
from kazft.generate.chat import ChatSession

HELP = """commands:
  /reset            forget the conversation (the system prompt stays)
  /system           show the system prompt; /system TEXT sets it; /system off removes it
  /save FILE        save the conversation as JSON: {"messages": [...]}
  /help             this text
  /quit             leave (Ctrl-D too)
A line ending in \\ continues on the next line. Ctrl-C stops an answer."""


@dataclass
class Terminal:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    interactive: bool

    def read(self, prompt: str) -> str | None:
        """One logical line (backslash-continued), or None at end of input."""
        parts: list[str] = []
        while True:
            if self.interactive:
                try:
                    line = input(prompt if not parts else "... ")
                except EOFError:  # Ctrl-D: end the prompt's line, so the shell's starts clean
                    self.out("\n")
                    line = None
            else:
                raw = self.stdin.readline()
                line = raw.rstrip("\n") if raw else None
            if line is None:
                return "\n".join(parts) if parts else None
            if line.endswith("\\"):
                parts.append(line[:-1])
                continue
            parts.append(line)
            return "\n".join(parts)

    def out(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def note(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)


def _command(session: ChatSession, term: Terminal, line: str) -> bool:
    """Run a /command; False means leave."""
    name, _, arg = line.partition(" ")
    arg = arg.strip()
    if name in ("/quit", "/exit", "/q"):
        return False
    if name == "/help":
        term.note(HELP)
    elif name == "/reset":
        session.reset()
        term.note("(conversation cleared)")
    elif name == "/system":
        if not arg:
            term.note(f"system prompt: {session.system_prompt!r}")
        else:
            session.set_system(None if arg.lower() == "off" else arg)
            term.note(
                "(system prompt set; the next turn re-reads the conversation)"
                if session.system_prompt
                else "(system prompt removed)"
            )
    elif name == "/save":
        if not arg:
            term.note("usage: /save FILE")
        else:
            path = session.save(arg)
            term.note(f"(saved {len(session.turns)} turns to {path})")
    else:
        term.note(f"unknown command {name}; /help lists them")
    return True


def run_repl(
    session: ChatSession,
    term: Terminal,
    quiet: bool = False,
    as_json: bool = False,
    banner: str = "",
) -> int:
    if term.interactive:
        with contextlib.suppress(ImportError):  # Windows has no readline
            import readline  # noqa: F401 - line editing and history for input()
    if banner and not quiet:
        term.note(banner)
    while True:
        try:
            line = term.read("you> ")
        except KeyboardInterrupt:
            term.note("")
            return 0
        if line is None:
            return 0
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            try:
                if not _command(session, term, line):
                    return 0
            except KazftError as err:
                term.note(f"kazft: error: {err}")
            except OSError as err:
                term.note(f"kazft: error: {err}")
            continue
        try:
            gen = session.ask(line, on_text=term.out)
        except KazftError as err:
            term.note(f"kazft: error: {err}")
            continue
        except KeyboardInterrupt:
            term.out("\n")
            term.note("(stopped; this turn is not kept)")
            continue
        term.out("\n")
        if as_json:
            term.note(json.dumps({**gen.stats.as_dict(), "prefill": session.last_reuse}))
        elif not quiet:
            term.note(f"[{gen.stats.line()}]")


def terminal() -> Terminal:
    return Terminal(
        sys.stdin, sys.stdout, sys.stderr, interactive=sys.stdin.isatty() and sys.stdout.isatty()
    )
