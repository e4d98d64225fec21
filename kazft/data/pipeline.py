"""The data pipeline: recipe + tokenizer -> train/valid/test examples and a report.

Order of work: read and validate every record of every source (bad records:
error, or skipped and counted); split (a seeded, duplicate-aware split of
train when no valid files are given); render and mask through the chat
template in batches; fit each example into ``max_seq_length``. Splitting
happens before rendering, so changing ``max_seq_length`` or the template never
moves a record between train and valid.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from kazft.data.lengths import fit_lengths
from kazft.data.records import Problem, Record, SourceRecords
from kazft.data.render import ChatEncoder, Example, RecordProblem
from kazft.data.report import DataReport, SourceInfo, SplitStats
from kazft.data.sources import as_list, read_source
from kazft.data.splits import group_by_key, seeded_split
from kazft.errors import DataError
from kazft.recipe import DataSection, Recipe

SPLITS = ("train", "valid", "test")
CHUNK = 512  # conversations rendered and tokenized per batch call
_SKIP_HINT = (
    "Fix the record, or set data.on_bad_record: skip to leave bad records out "
    "(they are counted by `kazft data check`)."
)


@dataclass
class Prepared:
    train: list[Example]
    valid: list[Example]
    test: list[Example]
    report: DataReport


def bad_record_error(problems: list[Problem]) -> DataError:
    first = problems[0]
    more = ""
    if len(problems) > 1:
        locs = ", ".join(p.location for p in problems[1:4])
        etc = ", ..." if len(problems) > 4 else ""
        more = f" ({len(problems) - 1} more bad record(s): {locs}{etc})"
    return DataError(f"{first.location}: {first.message}.{more} {_SKIP_HINT}")


def _read_all(data: DataSection, report: DataReport) -> dict[str, list[Record]]:
    by_role: dict[str, list[Record]] = {r: [] for r in SPLITS}
    entries = {"train": data.train, "valid": data.valid, "test": data.test}
    for role, entry in entries.items():
        for spec in as_list(entry):
            got: SourceRecords = read_source(spec, role, data)
            if got.problems and data.on_bad_record == "error":
                raise bad_record_error(got.problems)
            if not got.records:
                raise DataError(
                    f"{got.source}: none of its {len(got.problems)} record(s) is usable "
                    f"(first: {got.problems[0]}); fix the data"
                )
            report.sources.append(
                SourceInfo(
                    got.source,
                    role,
                    got.format or "?",
                    len(got.records),
                    len(got.problems),
                    dict(got.unused_keys),
                    got.crlf_records,
                )
            )
            report.issues += [
                Problem(p.location, p.reason, p.message, "skipped", role) for p in got.problems
            ]
            by_role[role] += got.records
    return by_role


def _split(
    data: DataSection, seed: int, by_role: dict[str, list[Record]], report: DataReport
) -> tuple[dict[str, list[Record]], dict[str, int]]:
    """Records per split, and how many each split was given (before leak removal)."""
    train = by_role["train"]
    if data.valid is None:
        test_frac = data.split.test if data.test is None else 0.0
        res = seeded_split([r.key for r in train], data.split.valid, test_frac, seed)
        out = {
            "train": [train[i] for i in res.train],
            "valid": [train[i] for i in res.valid],
            "test": [train[i] for i in res.test] if data.test is None else by_role["test"],
        }
        report.split_mode = f"seeded split of train (seed {seed}): valid {data.split.valid:g}" + (
            f", test {test_frac:g}" if data.test is None else ", test from data.test"
        )
        report.duplicates = [[train[i].location for i in g] for g in res.duplicate_groups]
    else:
        out = dict(by_role)
        report.split_mode = "files: data.valid" + (" and data.test" if data.test else "")
        report.duplicates = [
            [train[i].location for i in g]
            for g in group_by_key([r.key for r in train])
            if len(g) > 1
        ]
    assigned = {role: len(out[role]) for role in SPLITS}
    # A prompt seen in training makes a validation or test record worthless.
    seen = {r.key: r.location for r in out["train"]}
    for role in ("valid", "test"):
        kept = []
        for r in out[role]:
            if r.key in seen:
                report.issues.append(
                    Problem(
                        r.location,
                        "duplicate_of_earlier_split",
                        f"same prompt as {seen[r.key]}",
                        "excluded",
                        role,
                    )
                )
            else:
                kept.append(r)
        out[role] = kept
        seen.update({r.key: r.location for r in kept if r.key not in seen})
    return out, assigned


def _encode(
    role: str, records: list[Record], encoder: ChatEncoder, data: DataSection, report: DataReport
) -> tuple[list[Example], int]:
    examples: list[Example] = []
    truncated = 0
    bad: list[Problem] = []
    for s in range(0, len(records), CHUNK):
        chunk = []
        for r in records[s : s + CHUNK]:
            tok = next(
                (t for m in r.messages if (t := encoder.control_token_in(m["content"]))), None
            )
            if tok is not None:
                bad.append(
                    Problem(
                        r.location,
                        "control_token",
                        f"the text holds {tok!r}, one of the "
                        "tokenizer's control tokens; it would break the turn structure. "
                        "Remove or reword it",
                    )
                )
            else:
                chunk.append(r)
        good: list[Record] = []
        encoded: list[tuple[list[int], list[bool]]] = []
        for r, enc in zip(chunk, encoder.encode([r.messages for r in chunk]), strict=True):
            if isinstance(enc, RecordProblem):
                bad.append(Problem(r.location, enc.reason, enc.message))
            else:
                good.append(r)
                encoded.append(enc)
        fits = fit_lengths(
            encoder,
            [r.messages for r in good],
            encoded,
            data.max_seq_length,
            data.truncation,
            [r.input_span for r in good],
        )
        for r, fit in zip(good, fits, strict=True):
            if isinstance(fit, RecordProblem):
                report.issues.append(Problem(r.location, fit.reason, fit.message, "excluded", role))
                continue
            if fit.cut_tokens:
                truncated += 1
                report.issues.append(
                    Problem(
                        r.location,
                        "prompt_truncated",
                        f"cut {fit.cut_tokens} tokens ({fit.cut_chars} characters) from "
                        + (
                            "the start of the first user turn"
                            if fit.cut_start
                            else "the end of the input"
                        )
                        + f" to fit {data.max_seq_length}",
                        "truncated",
                        role,
                    )
                )
            examples.append(Example(fit.tokens, fit.mask, r.location, r.category))
    if bad and data.on_bad_record == "error":
        bad.sort(key=lambda p: _loc_order(p.location))
        raise bad_record_error(bad)
    report.issues += [Problem(p.location, p.reason, p.message, "skipped", role) for p in bad]
    return examples, truncated


def _loc_order(loc: str) -> tuple[str, int]:
    head, _, tail = loc.rpartition(":")
    return (head, int(tail)) if tail.isdigit() else (loc, 0)


def _stats(name: str, n_records: int, examples: list[Example], truncated: int) -> SplitStats:
    lengths = np.array([len(e.tokens) for e in examples], dtype=np.int64)
    trained = int(sum(sum(e.mask) for e in examples))
    pct = (
        [int(v) for v in np.percentile(lengths, [50, 90, 99], method="inverted_cdf")]
        if len(lengths)
        else [0, 0, 0]
    )
    return SplitStats(
        name=name,
        records=n_records,
        examples=len(examples),
        tokens=int(lengths.sum()),
        trained=trained,
        p50=pct[0],
        p90=pct[1],
        p99=pct[2],
        max=int(lengths.max()) if len(lengths) else 0,
        truncated=truncated,
        categories=dict(Counter(e.category for e in examples if e.category)),
    )


def _check_recipe_text(data: DataSection, encoder: ChatEncoder) -> None:
    for key in ("system_prompt", "prompt_template"):
        text = getattr(data, key)
        tok = encoder.control_token_in(text) if text else None
        if tok:
            raise DataError(
                f"data.{key} holds {tok!r}, one of the tokenizer's control tokens; "
                "the chat template adds those itself. Remove it from the recipe"
            )


def prepare(recipe: Recipe, tokenizer) -> Prepared:
    """Read, validate, split, render, mask and fit the recipe's data."""
    data = recipe.data
    encoder = ChatEncoder(tokenizer)
    _check_recipe_text(data, encoder)
    report = DataReport(
        max_seq_length=data.max_seq_length,
        truncation=data.truncation,
        on_bad_record=data.on_bad_record,
    )
    by_role = _read_all(data, report)
    split, assigned = _split(data, recipe.train.seed, by_role, report)
    out: dict[str, list[Example]] = {}
    for role in SPLITS:
        out[role], truncated = _encode(role, split[role], encoder, data, report)
        report.splits[role] = _stats(role, assigned[role], out[role], truncated)
    if not out["train"]:
        reasons = Counter(i.reason for i in report.issues if i.kind != "truncated")
        why = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "no records"
        raise DataError(
            f"no training examples are left after validation and length checks "
            f"({why}); run `kazft data check` to see each record's reason"
        )
    system = (data.system_prompt or "").strip()
    if system and not any(
        r.messages[0]["role"] == "system" and r.messages[0]["content"] == system
        for role in SPLITS
        for r in split[role]
    ):
        report.notes.append(
            "data.system_prompt is not used: every chat record has its own system message"
        )
    if not any(r.format == "alpaca" for role in SPLITS for r in split[role]):
        report.notes.append("data.prompt_template is not used: no record is in the alpaca format")
    return Prepared(out["train"], out["valid"], out["test"], report)
