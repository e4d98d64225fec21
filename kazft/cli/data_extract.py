"""``kazft data extract``: PDFs, scans (OCR), web pages and documents to records.

The handler parses options and prints the summary; the work lives in
``kazft.text.extract`` and its readers, imported inside the handler so that
``kazft data --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from kazft.errors import DataError


def run_extract(args: argparse.Namespace) -> int:
    from kazft.text.document import ExtractOptions
    from kazft.text.extract import count_pages, document_records, expand_inputs, read_document
    from kazft.text.normalize import Normalizer
    from kazft.text.ocr import require_tesseract
    from kazft.text.output import atomic_output
    from kazft.text.paged import IMAGE_SUFFIXES
    from kazft.text.progress import print_summary, progress

    split = args.split or ("paragraphs" if args.no_split else "sentences")
    fmt = args.format or ("jsonl" if str(args.output or "").endswith(".jsonl") else "text")
    if fmt == "completion" and split != "articles":
        raise DataError("--format completion needs --split articles")
    if not 0 <= args.min_confidence <= 100:
        raise DataError(f"--min-confidence {args.min_confidence:g}: give a value from 0 to 100")
    inputs = expand_inputs(args.inputs)
    if args.output and args.output != "-":
        # A folder named as input may hold the output of an earlier run.
        target = Path(args.output).resolve()
        inputs = [p for p in inputs if p == "-" or Path(p).resolve() != target]
    suffixes = {Path(p).suffix.lower() for p in inputs}
    if args.ocr != "never" and (
        suffixes & set(IMAGE_SUFFIXES) or (args.ocr == "always" and ".pdf" in suffixes)
    ):
        require_tesseract(args.ocr_lang)  # fail before reading anything
    if args.jobs is not None and args.jobs < 1:
        raise DataError(f"--jobs {args.jobs}: give 1 or more")
    opts = ExtractOptions(
        args.encoding,
        args.ocr,
        args.ocr_lang,
        args.min_confidence,
        args.jobs or os.cpu_count() or 1,
    )
    clean = Normalizer() if args.normalize else None
    total = sum(count_pages(p) for p in inputs)
    counts: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    reports = []
    with atomic_output(args.output) as out, progress("extracting", total, min_total=1) as step:
        for path in inputs:
            doc = read_document(path, opts, step).cleaned(clean)
            reports += doc.pages
            counts["running header/footer lines removed"] += sum(doc.running_lines.values())
            # Per paragraph, not per sentence: a third of the calls, the same picture.
            langs.update(_language(b.text) for b in doc.blocks if b.text.strip())
            for rec in document_records(doc, split, args.act):
                counts["records"] += 1
                counts["characters"] += len(rec["text"])
                out.write(_format_record(rec, fmt))
    left_out = [r for r in reports if not r.kept or r.note]
    for r in left_out:
        what = "left out" if not r.kept else "no text"
        print(f"kazft: warning: {r.source} page {r.page}: {r.note}; {what}", file=sys.stderr)
    rows: list[tuple[str, Any]] = [
        ("files", len(inputs)),
        ("pages", len(reports) or "-"),
        ("pages OCR'd", sum(r.ocr for r in reports)),
        (
            f"pages below confidence {args.min_confidence:g} (left out)",
            sum(not r.kept for r in reports),
        ),
        ("pages without text", sum(r.kept and bool(r.note) for r in reports)),
        ("running header/footer lines removed", counts["running header/footer lines removed"]),
        ("records" if split != "sentences" else "sentences", counts["records"]),
        ("characters", counts["characters"]),
        (
            "languages found (paragraphs)",
            ", ".join(f"{k} {v}" for k, v in langs.most_common()) or "-",
        ),
    ]
    if clean is not None:
        rows += [(f"normalized: {k}", v) for k, v in clean.counts.items() if v]
    print_summary(f"kazft data extract --split {split}", rows, args.quiet)
    return 0


def _language(text: str) -> str:
    from kazft.text.language import describe

    return str(describe(text)["language"])


def _format_record(rec: dict[str, Any], fmt: str) -> str:
    if fmt == "text":
        # Articles span lines: a blank line after each keeps them apart.
        return rec["text"] + ("\n\n" if "article" in rec else "\n")
    if fmt == "completion":
        head = [rec["act"], *(rec[k] for k in ("section", "chapter", "paragraph") if k in rec)]
        body = rec["text"]
        if rec.get("article") is not None:
            heading, _, body = rec["text"].partition("\n")
            head.append(heading)
        meta = {k: v for k, v in rec.items() if k != "text"}
        rec = {"prompt": "\n".join(head), "completion": body, **meta}
    return json.dumps(rec, ensure_ascii=False) + "\n"


def register_extract(verbs: Any) -> None:
    p = verbs.add_parser(
        "extract",
        help="PDFs, scans (OCR), web pages, .docx/.txt/.md to sentences, paragraphs or articles",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=".pdf, .png/.jpg/.tif (OCR), .html, .docx, .txt or .md files, or folders of them",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="output file; .jsonl gives JSONL with source and position (default: stdout)",
    )
    p.add_argument("--encoding", default="utf-8", help="input encoding (default: utf-8)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    p.add_argument(
        "--format",
        choices=("text", "jsonl", "completion"),
        help="output format (default: from the output suffix, else text); completion: "
        "prompt/completion records of articles for continued pre-training",
    )
    p.add_argument(
        "--split",
        choices=("sentences", "paragraphs", "articles"),
        help="one record per sentence (default), paragraph, or statute article",
    )
    p.add_argument("--no-split", action="store_true", help="same as --split paragraphs")
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="look-alike letters, soft hyphens, invisible characters (default: on)",
    )
    p.add_argument(
        "--ocr",
        choices=("auto", "always", "never"),
        default="auto",
        help="OCR pages without a text layer (auto), every scanned page (always), or none",
    )
    p.add_argument(
        "--ocr-lang",
        default="kaz+rus",
        metavar="LANGS",
        help="Tesseract languages (default: kaz+rus)",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=60.0,
        metavar="N",
        help="leave out (and report) OCR'd pages with a lower mean word confidence (60)",
    )
    p.add_argument("--act", metavar="NAME", help="the act's name for --split articles")
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="scanned PDF pages OCR'd at once (default: the number of CPU cores)",
    )
    p.set_defaults(func=run_extract)
