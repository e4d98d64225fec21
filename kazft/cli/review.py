"""``kazft review create|serve|report``: lawyers judge the adapter blind, side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kazft.errors import KazftError


def _create(args: argparse.Namespace) -> int:
    from kazft.review.create import create_review

    if args.max_tokens < 1:
        raise KazftError(f"--max-tokens {args.max_tokens}: must be at least 1")
    if not Path(args.questions).is_file():
        raise KazftError(f"--questions {args.questions}: no such file")
    meta = create_review(
        Path(args.run),
        Path(args.questions),
        Path(args.out),
        against=args.against,
        seed=args.seed,
        max_tokens=args.max_tokens,
        note=lambda msg: print(msg, file=sys.stderr),
    )
    print(
        f"wrote {meta['items']} blind items to {args.out} (seed {meta['seed']}); raters grade "
        f"them with `kazft review serve {args.out}`, then `kazft review report {args.out}`"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kazft.review.app import create_review_app
    from kazft.review.store import read_items
    from kazft.serve.limits import ServeSettings, check_bind

    folder = Path(args.review)
    settings = ServeSettings(
        host=args.host, port=args.port, api_key=args.api_key, no_auth=args.no_auth
    )
    problem = check_bind(settings)
    if problem:
        raise KazftError(problem)
    n = len(read_items(folder))
    app = create_review_app(folder, settings)
    print(
        f"kazft review: {n} items from {folder} at http://{args.host}:{args.port}/ "
        f"(ratings append to {folder / 'ratings.jsonl'})",
        file=sys.stderr,
    )
    if args.no_auth and not args.api_key:
        print("kazft review: warning: --no-auth: anyone who can reach it can rate", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _report(args: argparse.Namespace) -> int:
    from kazft.artifacts.atomic import atomic_write
    from kazft.review.exports import write_export
    from kazft.review.render import html_page, markdown, plot
    from kazft.review.report import build_report

    folder = Path(args.review)
    report = build_report(folder, seed=args.seed)
    out = Path(args.out) if args.out else folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    plots = plot(report, out)
    for name, text in (
        ("report.md", markdown(report, plots)),
        ("report.html", html_page(report, plots)),
    ):
        atomic_write(out / name, text)
    print(
        f"adapter win rate: {report.win.fmt()} over {report.ratings} ratings of {report.items} items"
    )
    print(f"wrote {out / 'report.md'}, {out / 'report.html'} and {len(plots)} plots")
    for kind in args.export or []:
        for path in write_export(folder, kind, out):
            print(f"wrote {path}")
    return 0


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    c = verbs.add_parser(
        "create",
        help="answer the questions with the adapter and the other system, blinded",
        description="Answer every question with the run's adapter and with --against "
        "(resumable), shuffle A/B per item with a recorded seed, keep the key apart.",
    )
    c.add_argument("run", metavar="RUN", help="the run folder (output.dir of its recipe)")
    c.add_argument(
        "--questions",
        required=True,
        help="JSONL: instruction [, input, category, difficulty, reference]",
    )
    c.add_argument(
        "--against", default="base", help="base (default), a checkpoint folder or another run"
    )
    c.add_argument("-o", "--out", required=True, help="the review folder to write")
    c.add_argument("--seed", type=int, default=0, help="A/B order and item ids (recorded)")
    c.add_argument("--max-tokens", type=int, default=512, help="longest answer (greedy decoding)")
    c.set_defaults(func=_create)

    s = verbs.add_parser(
        "serve",
        help="the rating page for lawyers",
        description="Serve the blind rating page; every rating is appended to ratings.jsonl.",
    )
    s.add_argument("review", metavar="REVIEW")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8090)
    s.add_argument("--api-key", help="required when --host is not loopback (or --no-auth)")
    s.add_argument("--no-auth", action="store_true", help="serve a non-loopback host without a key")
    s.set_defaults(func=_serve)

    r = verbs.add_parser(
        "report",
        help="win rates, quality by difficulty and agreement, with 95 % intervals",
        description="Unblind the ratings and write report.md, report.html and plots.",
    )
    r.add_argument("review", metavar="REVIEW")
    r.add_argument("--out", help="folder for the report (default REVIEW/report)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap resampling seed")
    r.add_argument(
        "--export",
        action="append",
        choices=["dpo", "label-studio", "argilla"],
        help="also write preference pairs (dpo) or an import file (repeatable)",
    )
    r.set_defaults(func=_report)
