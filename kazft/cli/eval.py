"""``kazft eval RUN_OR_BUNDLE``: does the adapter help, where, and what did it cost?"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kazft.errors import KazftError


def _probe(text: str) -> tuple[str, str]:
    lang, sep, path = text.partition("=")
    if not sep or not lang.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected LANG=FILE, e.g. ru=probe_ru.txt")
    return lang.strip(), path.strip()


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description="Compare the base model with base + adapter: loss and perplexity on the "
        "split's trained tokens, chrF++ / BLEU / exact match / token F1 / length of greedy "
        "answers against the references, per category; perplexity on general Kazakh and "
        "Russian text (retention); a Markdown + HTML report with plots and eval.json.",
    )
    p.add_argument(
        "target",
        metavar="RUN_OR_BUNDLE",
        help="run folder (recipe output.dir), checkpoint folder, adapter folder or bundle",
    )
    p.add_argument(
        "--recipe",
        "-r",
        metavar="NAME",
        help="recipe name or path (default: the recipe.yaml saved with the run)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one recipe key (repeatable)",
    )
    p.add_argument(
        "--split",
        choices=["test", "valid", "train"],
        help="records to evaluate (default test; falls back to valid, with a note, "
        "when the recipe has no test split; --checkpoints: valid)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N records")
    p.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        help="longest answer to generate (default: the recipe's eval.max_tokens, else 256)",
    )
    p.add_argument(
        "--no-generate",
        action="store_true",
        help="loss and perplexity only (no answers, no chrF++/BLEU)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=5,
        metavar="N",
        help="side-by-side answers in the report (default 5)",
    )
    r = p.add_argument_group("retention probe")
    r.add_argument("--no-retention", action="store_true", help="skip the retention probe")
    r.add_argument(
        "--probe",
        action="append",
        type=_probe,
        default=[],
        metavar="LANG=FILE",
        help="probe text for a language (kk, ru or another code); replaces the "
        "shipped or the recipe's probe (repeatable)",
    )
    r.add_argument(
        "--retention-warn",
        type=float,
        metavar="F",
        help="warn when probe perplexity rises by more than F (default 0.10 = 10 %%)",
    )
    c = p.add_argument_group("checkpoint selection")
    c.add_argument(
        "--checkpoints",
        action="store_true",
        help="evaluate every saved checkpoint of the run on the validation split and mark the best",
    )
    c.add_argument(
        "--metric",
        choices=["loss", "chrf++"],
        default="loss",
        help="what --checkpoints ranks by (default loss; chrf++ generates answers)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where eval.json and eval/ go (default: the run folder; ./eval-NAME "
        "for a checkpoint, adapter or bundle)",
    )
    p.set_defaults(func=run)


class RichReporter:
    def __init__(self, console: Any) -> None:
        self.console = console

    def log(self, message: str) -> None:
        self.console.print(f"kazft: {message}", highlight=False, markup=False)

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        if not self.console.is_terminal:  # a log file gets the summary lines only
            yield lambda done: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total)
            yield lambda done: bar.update(task, completed=done)


def _table(title: str, head: list[str], rows: list[tuple[str, ...]]) -> Any:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, h in enumerate(head):
        t.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*row)
    return t


def print_summary(
    result: dict[str, Any], files: dict[str, Any], console: Any, checkpoints_only: bool = False
) -> None:
    from rich.markup import escape

    from kazft.eval.report import sections

    for title, head, rows in sections(result):
        if checkpoints_only and title != "Checkpoints":
            continue
        console.print(_table(title, head, [tuple(escape(c) for c in r) for r in rows]))
    if not checkpoints_only:
        for name, sig in (result.get("signatures") or {}).items():
            console.print(f"{name} signature: {escape(sig)}", highlight=False)
        for warning in (result.get("retention") or {}).get("warnings") or []:
            console.print(f"[bold red]warning:[/] {escape(warning)}")
    ck = result.get("checkpoints") or {}
    if ck.get("best"):
        console.print(
            f"best checkpoint by {ck['metric']} on the {ck['split']} split: [bold]{ck['best']}[/]"
        )
    console.print(
        f"wrote {escape(str(files['json']))}, {escape(str(files['markdown']))} and "
        f"{escape(str(files['html']))}",
        highlight=False,
    )


def check_combination(args: argparse.Namespace) -> None:
    """Refuse options that would be silently ignored in the chosen mode."""
    answers = not args.no_generate if not args.checkpoints else args.metric == "chrf++"
    conflicts = [
        ("--max-tokens", args.max_tokens is not None and not answers, "no answers are generated"),
        (
            "--samples",
            args.samples != 5 and (args.checkpoints or args.no_generate),
            "no side-by-side answers are generated",
        ),
        (
            "--metric",
            args.metric != "loss" and not args.checkpoints,
            "it chooses the best checkpoint (with --checkpoints)",
        ),
    ]
    if args.checkpoints:
        why = "--checkpoints compares validation loss (and chrF++ with --metric chrf++) only"
        conflicts += [
            ("--split", args.split not in (None, "valid"), why),
            ("--no-generate", args.no_generate, why),
            ("--no-retention", args.no_retention, why),
            ("--probe", bool(args.probe), why),
            ("--retention-warn", args.retention_warn is not None, why),
        ]
    for flag, given, why in conflicts:
        if given:
            raise KazftError(f"{flag} has no effect here: {why}; leave it out")


def run(args: argparse.Namespace) -> int:
    from kazft.console import console as make_console
    from kazft.eval.runner import Options, evaluate, evaluate_checkpoints

    check_combination(args)
    probes = dict(args.probe)
    if len(probes) != len(args.probe):
        raise KazftError("--probe: each language may be given once")
    if args.retention_warn is not None and args.retention_warn <= 0:
        raise KazftError(f"--retention-warn {args.retention_warn}: must be > 0 (0.10 = 10 %)")
    opts = Options(
        target=args.target,
        recipe=args.recipe,
        overrides=args.set,
        split=args.split or "test",
        limit=args.limit,
        max_tokens=args.max_tokens,
        generate=not args.no_generate,
        retention=not args.no_retention,
        probes=probes,
        retention_warn=args.retention_warn,
        samples=args.samples,
        out=args.out,
        metric=args.metric,
    )
    console = make_console()  # off a terminal: no wrapping at 80 columns
    reporter = RichReporter(make_console(stderr=True))
    if args.checkpoints:
        result, files = evaluate_checkpoints(opts, reporter)
    else:
        result, files = evaluate(opts, reporter)
    print_summary(result, files, console, checkpoints_only=args.checkpoints)
    return 0
