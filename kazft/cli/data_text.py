"""``kazft data detect|normalize|translit|extract|dedup|convert|stats``: Kazakh text tools.

Handlers only parse options and print summaries; the work lives in
``kazft.text``, which is imported inside each handler so that ``kazft data
--help`` stays instant and nothing here pulls in mlx. ``extract``'s handler
is in ``kazft.cli.data_extract``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from kazft.cli.data_extract import register_extract
from kazft.errors import DataError

QUOTES = ("keep", "guillemets", "straight", "curly")
DASHES = ("keep", "em", "en", "hyphen")


def _common(
    p: argparse.ArgumentParser,
    output_help: str = "output file (default: stdout)",
    fields: bool = True,
) -> None:
    p.add_argument("-o", "--output", metavar="PATH", help=output_help)
    if fields:
        p.add_argument(
            "--fields",
            metavar="F1,F2",
            help="JSONL fields to work on (default: instruction,input,output, else text, "
            "else messages: whichever the file's records carry)",
        )
    p.add_argument("--encoding", default="utf-8", help="input encoding (default: utf-8)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


def _field_rows(choice: Any) -> list[tuple[str, Any]]:
    """Summary rows naming the fields read, and records that lacked them."""
    rows: list[tuple[str, Any]] = [("fields used", choice.describe())]
    if choice.missing:
        rows.append(("records without those fields (unchanged)", choice.missing))
    return rows


def run_detect(args: argparse.Namespace) -> int:
    from kazft.text.language import MODEL_NAME, describe, model_available
    from kazft.text.output import atomic_output
    from kazft.text.progress import print_summary, track
    from kazft.text.records import FieldChoice, count_lines, parse_fields, read_records

    choice = FieldChoice(parse_fields(args.fields), args.input)
    scripts: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    with atomic_output(args.output) as out:
        for rec in track(
            read_records(args.input, args.encoding), "detecting", count_lines(args.input)
        ):
            info = {"record": rec.where, **describe(rec.joined(choice.pick(rec)))}
            scripts[info["script"]] += 1
            langs[info["language"]] += 1
            out.write(json.dumps(info, ensure_ascii=False) + "\n")
        choice.check()
    rows: list[tuple[str, Any]] = [("records", sum(scripts.values()))]
    rows += _field_rows(choice)
    rows += [(f"script {k}", v) for k, v in scripts.most_common()]
    rows += [(f"language {k}", v) for k, v in langs.most_common()]
    rows.append(("language model", MODEL_NAME if model_available() else "none (letter rules)"))
    print_summary("kazft data detect", rows, args.quiet)
    return 0


def run_normalize(args: argparse.Namespace) -> int:
    from kazft.text.normalize import Normalizer
    from kazft.text.progress import print_summary
    from kazft.text.records import parse_fields
    from kazft.text.rewrite import rewrite_file

    norm = Normalizer(quotes=args.quotes, dashes=args.dashes)
    n, changed, choice = rewrite_file(
        args.input,
        args.output,
        norm,
        fields=parse_fields(args.fields),
        encoding=args.encoding,
        label="normalizing",
    )
    rows = [("records", n), *_field_rows(choice), ("records changed", changed)]
    rows += [(f"{kind} (characters)", count) for kind, count in norm.counts.items()]
    print_summary("kazft data normalize", rows, args.quiet)
    return 0


def run_translit(args: argparse.Namespace) -> int:
    from kazft.text.progress import print_summary
    from kazft.text.records import parse_fields
    from kazft.text.rewrite import rewrite_file
    from kazft.text.translit import Transliterator

    if args.measure:
        return _measure(args)
    tr = Transliterator(args.to, source=args.source, keep_foreign=not args.convert_all)
    if args.input != "-" and args.to == "cyrillic" and args.source == "auto":
        # One pass first: lines without marker letters take the file's alphabet.
        from kazft.text.records import FieldChoice, read_records

        pre = FieldChoice(parse_fields(args.fields), args.input)
        tr.learn_file(
            t for rec in read_records(args.input, args.encoding) for t in rec.texts(pre.pick(rec))
        )
    n, changed, choice = rewrite_file(
        args.input,
        args.output,
        tr,
        fields=parse_fields(args.fields),
        encoding=args.encoding,
        label="transliterating",
    )
    rows: list[tuple[str, Any]] = [("records", n), *_field_rows(choice)]
    rows.append(("records changed", changed))
    rows += [
        (f"texts read as {k[5:]}", v) for k, v in sorted(tr.counts.items()) if k.startswith("from_")
    ]
    if tr.file_alphabet:
        rows.append(("file alphabet (lines without marker letters)", tr.file_alphabet))
    rows += [
        ("citations kept (et al., e.g.)", tr.counts["citations_kept"]),
        ("clauses kept as Russian", tr.counts["kept_russian"]),
        ("clauses kept as English", tr.counts["kept_english"]),
        ("look-alike letters repaired", tr.counts["lookalikes_repaired"]),
    ]
    print_summary(f"kazft data translit --to {args.to}", rows, args.quiet)
    return 0


def _measure(args: argparse.Namespace) -> int:
    from kazft.text.accuracy import roundtrip
    from kazft.text.output import atomic_output
    from kazft.text.records import FieldChoice, parse_fields, read_records

    if args.to == "cyrillic":
        raise DataError("--measure round-trips Cyrillic text through --to latin2018 or latin2021")
    choice = FieldChoice(parse_fields(args.fields), args.input)
    lines = [
        t for rec in read_records(args.input, args.encoding) for t in rec.texts(choice.pick(rec))
    ]
    choice.check()
    result = roundtrip(lines, args.to)
    with atomic_output(args.output) as out:
        out.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    return 0


def run_dedup(args: argparse.Namespace) -> int:
    from kazft.text.dedup import Deduplicator, DedupSource, write_outputs
    from kazft.text.output import atomic_output
    from kazft.text.progress import print_table
    from kazft.text.records import parse_fields

    named = [("train", p) for p in args.inputs] + [("valid", p) for p in args.valid or []]
    named += [("test", p) for p in args.test or []]
    if any(p == "-" for _, p in named):
        raise DataError("dedup reads its inputs twice; give files, not stdin")
    if len(named) > 1 and not args.out_dir:
        raise DataError("several inputs: pass --out-dir DIR for the deduplicated files")
    if args.out_dir:
        out_dir = Path(args.out_dir)
        if not out_dir.is_dir():
            raise DataError(f"{out_dir}: output folder does not exist")
        names = [Path(p).name for _, p in named]
        if len(set(names)) != len(names):
            raise DataError(
                "inputs share a file name; they would overwrite each other in --out-dir"
            )
    sources = [
        DedupSource(s, Path(p), out_dir / Path(p).name if args.out_dir else args.output)
        for s, p in named
    ]
    dd = Deduplicator(
        threshold=args.threshold,
        ngram=args.ngram,
        num_perm=args.num_perm,
        fields=parse_fields(args.fields),
        near=not args.exact_only,
        encoding=args.encoding,
    )
    dd.run(sources)
    write_outputs(sources, args.encoding)
    if args.clusters:
        with atomic_output(args.clusters) as out:
            for row in dd.cluster_rows():
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    header = ["file", "set", "fields", "records", "exact", "near", "cross-set", "kept"]
    used = {c.source: c.describe() for c in dd.field_choices}
    rows = [[str(s.path), s.set_name, used[str(s.path)], *s.summary().values()] for s in sources]
    print_table(
        f"kazft data dedup (threshold {args.threshold}, exact Jaccard of character "
        f"{args.ngram}-grams; {len(dd.clusters)} clusters; {dd.candidates} LSH candidates, "
        f"{dd.rejected} rejected by exact similarity)",
        header,
        rows,
        args.quiet,
    )
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from kazft.text.output import atomic_output
    from kazft.text.progress import print_summary, track
    from kazft.text.records import count_lines
    from kazft.text.tabular import convert_table, open_table, parse_mapping

    mapping = parse_mapping(args.map)
    table = open_table(args.input, args.format, args.encoding, args.split)
    line_based = str(args.input).lower().endswith((".csv", ".tsv", ".tab", ".jsonl"))
    total = count_lines(args.input) if line_based else None
    table.rows = track(table.rows, "converting", total)
    with atomic_output(args.output) as out:
        stats = convert_table(table, mapping, out)
    print_summary("kazft data convert", list(stats.items()), args.quiet)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from kazft.text.output import atomic_output
    from kazft.text.progress import print_summary
    from kazft.text.records import parse_fields
    from kazft.text.stats import collect_stats

    fertility = None
    if args.tokenizer:
        from kazft.text.fertility import Fertility, load_tokenizer

        fertility = Fertility(load_tokenizer(args.tokenizer))
    col = collect_stats(
        args.input,
        parse_fields(args.fields),
        args.encoding,
        detect=not args.no_detect,
        per_text=fertility,
    )
    result = col.result()
    if fertility is not None:
        result["fertility"] = {"tokenizer": str(args.tokenizer), **fertility.result()}
    if args.plots:
        from kazft.text.plots import write_plots

        result["plots"] = [
            str(p) for p in write_plots(result["categories"], col.total_chars, args.plots)
        ]
    with atomic_output(args.output) as out:
        out.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    rows: list[tuple[str, Any]] = [("records", result["records"])]
    rows.append(("fields used", result["fields"]))
    if result["records_without_fields"]:
        rows.append(("records without those fields", result["records_without_fields"]))
    for key in ("categories", "scripts", "languages"):
        rows += [
            (f"{key[:-1] if key != 'categories' else 'category'} {k}", v)
            for k, v in result.get(key, {}).items()
        ]
    if fertility is not None:
        rows += [
            ("tokens per word", result["fertility"]["tokens_per_word"]),
            ("words split", result["fertility"]["split_share"]),
        ]
    print_summary("kazft data stats", rows, args.quiet)
    return 0


def register_verbs(verbs: Any) -> None:
    """Add the text verbs to ``kazft data``'s sub-parsers."""
    p = verbs.add_parser("detect", help="script and language of each record, with confidences")
    p.add_argument("input", help="kazft JSONL or text file (one record per line); - for stdin")
    _common(p, "JSONL report, one line per record (default: stdout)")
    p.set_defaults(func=run_detect)

    p = verbs.add_parser(
        "normalize",
        help="NFC, look-alike letters, invisible characters, quotes and dashes (idempotent)",
    )
    p.add_argument("input", help="kazft JSONL or text file; - for stdin")
    _common(p)
    p.add_argument(
        "--quotes",
        choices=QUOTES,
        default="keep",
        help='double quotes to «» (guillemets), "" (straight) or “” (curly)',
    )
    p.add_argument(
        "--dashes",
        choices=DASHES,
        default="keep",
        help="spaced dashes to — (em), – (en) or - (hyphen)",
    )
    p.set_defaults(func=run_normalize)

    p = verbs.add_parser("translit", help="Kazakh Cyrillic <-> Latin 2018 / 2021")
    p.add_argument("input", help="kazft JSONL or text file; - for stdin")
    _common(p)
    p.add_argument("--to", required=True, choices=("cyrillic", "latin2018", "latin2021"))
    p.add_argument(
        "--from",
        dest="source",
        default="auto",
        choices=("auto", "cyrillic", "latin2017", "latin2018", "latin2021"),
        help="source alphabet (default: auto, decided per record)",
    )
    p.add_argument(
        "--convert-all",
        action="store_true",
        help="also convert clauses that look Russian or English",
    )
    p.add_argument(
        "--measure",
        action="store_true",
        help="instead of converting, report round-trip accuracy of Cyrillic input",
    )
    p.set_defaults(func=run_translit)

    register_extract(verbs)

    p = verbs.add_parser(
        "dedup",
        help="exact and near-duplicate removal (MinHash), within and across train/valid/test",
    )
    p.add_argument("inputs", nargs="+", metavar="TRAIN", help="training file(s)")
    _common(p, "output for a single input (default: stdout)")
    p.add_argument("--valid", action="append", metavar="PATH", help="validation file")
    p.add_argument("--test", action="append", metavar="PATH", help="test file")
    p.add_argument("--out-dir", metavar="DIR", help="folder for the deduplicated files")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.8,
        help="Jaccard similarity of character n-grams for near duplicates (0.8)",
    )
    p.add_argument("--ngram", type=int, default=5, help="character n-gram size (5)")
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (128)")
    p.add_argument("--exact-only", action="store_true", help="only exact duplicates")
    p.add_argument("--clusters", metavar="PATH", help="write duplicate clusters as JSONL")
    p.set_defaults(func=run_dedup)

    p = verbs.add_parser("convert", help="CSV/TSV/JSON/Parquet/datasets to kazft JSONL")
    p.add_argument("input", help="file, a datasets folder (save_to_disk) or hf:NAME")
    _common(p, fields=False)
    p.add_argument(
        "--map",
        metavar="SRC=DST,...",
        help="column mapping, e.g. question=instruction,answer=output",
    )
    p.add_argument(
        "--format",
        choices=("csv", "tsv", "json", "jsonl", "parquet", "datasets"),
        help="input format (default: from the suffix)",
    )
    p.add_argument("--split", help="datasets split (default: train)")
    p.set_defaults(func=run_convert)

    p = verbs.add_parser("stats", help="counts, lengths, tokenizer fertility and plots")
    p.add_argument("input", help="kazft JSONL or text file")
    _common(p, "JSON report (default: stdout)")
    p.add_argument("--tokenizer", metavar="DIR", help="local Hugging Face tokenizer folder")
    p.add_argument("--plots", metavar="DIR", help="write PNG charts to this folder")
    p.add_argument("--no-detect", action="store_true", help="skip script/language detection")
    p.set_defaults(func=run_stats)
