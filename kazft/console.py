"""Rich consoles whose output survives a pipe or a log file.

When its output is not a terminal, rich lays text out for 80 columns: a long
path or category name is wrapped or cut in ``kazft train ... > log``. A console
made here gets, off a terminal, a width no line reaches, so every line is
written whole. Progress bars are for terminals only (:func:`live`): off one,
rich prints the bar once when it stops, a stale line at the end of the log.
"""

from __future__ import annotations

from typing import Any

PIPE_WIDTH = 100_000  # "never wrap": lines are as long as their text


def console(stderr: bool = False, **kwargs: Any) -> Any:
    """A rich Console that wraps only on a terminal."""
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False, **kwargs)
    if not con.is_terminal and "width" not in kwargs:
        con = Console(stderr=stderr, highlight=False, width=PIPE_WIDTH, **kwargs)
    return con


def live(con: Any) -> bool:
    """Whether a progress bar belongs on ``con`` (a terminal, not a pipe or a file)."""
    return bool(con.is_terminal) and not con.is_dumb_terminal
