"""Progress bars and summaries on stderr (stdout may carry the data itself).

A bar is shown only for large inputs on an interactive terminal: on small
inputs it flickers for nothing, and in logs it is noise. ``KAZFT_PROGRESS=1``
forces it, ``=0`` hides it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

PROGRESS_MIN_RECORDS = 2000


def progress_wanted(total: int | None, min_total: int = PROGRESS_MIN_RECORDS) -> bool:
    forced = os.environ.get("KAZFT_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    if not sys.stderr.isatty():
        return False
    return total is None or total > min_total


@contextlib.contextmanager
def progress(
    label: str, total: int | None, min_total: int = PROGRESS_MIN_RECORDS
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a rich bar on stderr when wanted.

    ``min_total``: the smallest total worth a bar (slow units such as OCR'd
    pages want one from 2 on).
    """
    if not progress_wanted(total, min_total):

        def skip(n: int = 1) -> None:
            return None

        yield skip
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kazft.console import console

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    # progress_wanted() has decided: a terminal, or KAZFT_PROGRESS=1 asked for it
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


def track(items: Iterable[Any], label: str, total: int | None) -> Iterator[Any]:
    """Iterate ``items`` while advancing a progress bar."""
    with progress(label, total) as advance:
        for item in items:
            yield item
            advance(1)


def print_summary(
    title: str, rows: Mapping[str, Any] | list[tuple[str, Any]], quiet: bool = False
) -> None:
    """A two-column rich table on stderr."""
    if quiet:
        return
    from rich.table import Table

    from kazft.console import console as make_console

    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in rows.items() if isinstance(rows, Mapping) else rows:
        table.add_row(str(key), str(value))
    console = make_console(stderr=True)
    console.print(title, style="bold", markup=False, highlight=False)
    console.print(table)


def print_table(title: str, header: list[str], rows: list[list[Any]], quiet: bool = False) -> None:
    """A table with a header row on stderr."""
    if quiet:
        return
    from rich.table import Table

    from kazft.console import console as make_console

    table = Table()
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console = make_console(stderr=True)
    console.print(title, style="bold", markup=False, highlight=False)
    console.print(table)
