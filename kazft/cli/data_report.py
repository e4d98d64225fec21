"""``kazft data check``'s printout of a data report (rich tables).

Every number comes from :class:`kazft.data.report.DataReport`; this module only
lays it out, so the data layer never imports the console library.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kazft.data.records import Problem
from kazft.data.report import MAX_LOCATIONS, compact_locations, segments


def _visible(text: str) -> str:
    return text.replace("\n", "↵\n")


def print_report(
    prepared: Any,  # kazft.data.pipeline.Prepared
    decode: Any,
    console: Any = None,
    example: int = 0,
    all_locations: bool = False,
) -> None:
    """Print the report; ``decode(ids) -> str`` renders token ids (special tokens kept)."""
    from rich.table import Table
    from rich.text import Text

    from kazft.console import console as make_console

    con = console or make_console()
    rep = prepared.report

    src = Table(title="Sources", title_justify="left")
    for col in ("source", "split", "format", "records", "bad (skipped)", "keys not used"):
        src.add_column(
            col, justify="right" if col in ("records", "bad (skipped)") else "left", overflow="fold"
        )
    for s in rep.sources:
        unused = ", ".join(f"{k} ({n})" for k, n in sorted(s.unused_keys.items())) or "-"
        src.add_row(Text(s.source), s.role, s.format, str(s.records), str(s.skipped), Text(unused))
    con.print(src)
    crlf = sum(s.crlf_records for s in rep.sources)
    if crlf:
        con.print(f"Windows line breaks (CRLF) inside the text of {crlf} record(s) became \\n.")

    tab = Table(title=f"Splits ({rep.split_mode})", title_justify="left")
    for col in ("split", "records", "left out", "examples", "cut", "p50/p90/p99/max", "trained"):
        tab.add_column(col, justify="left" if col == "split" else "right", no_wrap=True)
    for st in rep.splits.values():
        tab.add_row(
            st.name,
            str(st.records),
            str(st.left_out),
            str(st.examples),
            str(st.truncated),
            f"{st.p50}/{st.p90}/{st.p99}/{st.max}",
            f"{100 * st.trained_fraction:.1f}%",
        )
    con.print(tab)
    con.print(
        "Trained tokens: "
        + "; ".join(f"{st.name} {st.trained:,} of {st.tokens:,}" for st in rep.splits.values())
        + ". Left out: records excluded or skipped (below); cut: prompt truncated."
    )
    con.print(
        f"Token lengths per example (p50/p90/p99 by nearest rank); limit "
        f"data.max_seq_length {rep.max_seq_length}, truncation: {rep.truncation}, "
        f"on_bad_record: {rep.on_bad_record}."
    )

    if rep.issues:
        con.print("Records truncated, excluded or skipped:", style="bold")
        groups: dict[tuple[str, str, str], list[Problem]] = {}
        for i in rep.issues:
            groups.setdefault((i.kind, i.split, i.reason), []).append(i)
        for (kind, split, reason), items in groups.items():
            shown = items if all_locations else items[:MAX_LOCATIONS]
            more = len(items) - len(shown)
            locs = compact_locations([i.location for i in shown])
            locs += f", ... ({more} more)" if more else ""
            con.print(Text(f"  {kind} ({split}) {reason}: {len(items)}: {locs}"))
            con.print(Text(f"    e.g. {items[0].location}: {items[0].message}"), style="dim")
    else:
        con.print("No record was truncated, excluded or skipped.")

    if rep.duplicates:
        n_rec = sum(len(g) for g in rep.duplicates)
        con.print(
            f"Duplicate prompts: {len(rep.duplicates)} prompt(s) appear more than once "
            f"({n_rec} records); each group stays within one split."
        )
        for g in rep.duplicates[:3]:
            con.print(Text("  " + ", ".join(g[:4]) + (", ..." if len(g) > 4 else "")))
    else:
        con.print("Duplicate prompts: none.")
    cats: Counter[str] = Counter()
    for st in rep.splits.values():
        cats.update(st.categories)
    if cats:
        con.print(Text("Categories: " + ", ".join(f"{k} {v}" for k, v in cats.most_common())))
    for note in rep.notes:
        con.print(Text(f"Note: {note}"), style="yellow")

    pool = prepared.train
    if not pool:
        return
    k = min(max(example, 0), len(pool) - 1)
    ex = pool[k]
    n_tr = sum(ex.mask)
    con.rule(
        Text(
            f"train example {k}: {ex.source} ({len(ex.tokens)} tokens: "
            f"{n_tr} trained, {len(ex.tokens) - n_tr} masked)"
        )
    )
    show = Table(show_header=True, box=None, pad_edge=False)
    show.add_column("loss", style="bold")
    show.add_column("text (↵ = newline)")
    for trained, ids in segments(ex.tokens, ex.mask):
        style = "bold green" if trained else "dim"
        show.add_row("trained" if trained else "masked", Text(_visible(decode(ids)), style=style))
    con.print(show)
