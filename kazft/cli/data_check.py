"""``kazft data check RECIPE``: run the recipe's data pipeline and report what it made.

Loads only the tokenizer (never the weights), so it runs in seconds even for
google/gemma-3-4b-it. Bad data ends with a one-paragraph error and exit 2.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def run(args: argparse.Namespace) -> int:
    from kazft.cli.data_report import print_report
    from kazft.console import console as make_console
    from kazft.data.pipeline import prepare
    from kazft.model.load import load_tokenizer
    from kazft.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.set)
    console = make_console()
    t0 = time.perf_counter()
    tokenizer = load_tokenizer(recipe.model.base, recipe.model.revision)
    t1 = time.perf_counter()
    prepared = prepare(recipe, tokenizer)
    t2 = time.perf_counter()
    console.print(
        f"[bold]kazft data check[/bold] {recipe.source}: tokenizer of "
        f"{recipe.model.base} ({t1 - t0:.1f} s), data prepared in {t2 - t1:.1f} s"
    )

    def decode(ids: list[int]) -> str:
        return str(tokenizer.decode(ids, skip_special_tokens=False))

    print_report(prepared, decode, console=console, example=args.example, all_locations=args.all)
    return 0


def register_verbs(verbs: Any) -> None:
    p = verbs.add_parser(
        "check",
        help="validate a recipe's data and report what training would see",
        description="Read, validate, split, render and mask the recipe's data exactly as "
        "training does, and report records per split, formats, token lengths, truncated, "
        "excluded and skipped records (with reasons and locations), duplicates, the "
        "fraction of trained tokens and one rendered example.",
    )
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe key, e.g. --set data.max_seq_length=512 (repeatable)",
    )
    p.add_argument(
        "--example",
        type=int,
        default=0,
        metavar="N",
        help="which training example to render (default 0)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="list every truncated, excluded or skipped record (default: the first 5 per reason)",
    )
    p.set_defaults(func=run)
