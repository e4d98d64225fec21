"""``kazft review report``: the ratings unblinded, counted, and given intervals.

Unblinding maps each rating's A/B back to the systems through key/key.json. A
rater's latest rating of an item counts (earlier ones are corrections). Then:

- win rate: the share of the adapter's wins among decisive ratings (adapter or
  other preferred; ties and "both bad" are counted and shown apart), with a Wilson
  95 % interval; overall, per category and per difficulty. A second interval
  resamples items (bootstrap), which stays honest when several raters rate the
  same item (their ratings are not independent);
- per system and difficulty, the table of the report our users copied, now with
  intervals: accuracy (share rated correct), completeness (mean of 1-5) and legal
  correctness (correct, no invented law, no wrong citation);
- agreement on items rated by more than one person: Cohen's kappa (the two raters
  who share most items), Fleiss' kappa (items with the most common number of
  raters), Krippendorff's alpha (nominal for preferences, ordinal for accuracy
  and completeness).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.errors import KazftError
from kazft.review.stats import (
    Estimate,
    bootstrap_mean,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    wilson,
)
from kazft.review.store import ACCURACY_ORDER, RATINGS, RatingLog, read_items, read_key

OUTCOMES = ("adapter", "other", "tie", "both_bad")


@dataclass
class Unblinded:
    item: str
    rater: str
    category: str | None
    difficulty: str | None
    outcome: str  # adapter | other | tie | both_bad
    scores: dict[str, dict[str, Any]]  # system -> its AnswerRating fields
    comment: str = ""


@dataclass
class Report:
    systems: dict[str, str]
    items: int
    ratings: int
    raters: list[str]
    outcomes: dict[str, int]
    win: Estimate
    win_bootstrap: Estimate
    by_category: dict[str, Estimate]
    by_difficulty: dict[str, Estimate]
    quality: dict[str, dict[str, dict[str, Estimate]]]  # system -> difficulty -> measure
    agreement: dict[str, Any]
    damaged: int = 0  # ratings.jsonl lines left out (torn by a crash, or malformed)
    rated: list[Unblinded] = field(repr=False, default_factory=list)


def unblind(folder: Path) -> tuple[list[Unblinded], dict[str, Any], int, int]:
    """(latest rating per rater and item, unblinded; the key; items; damaged lines)."""
    items = {i.id: i for i in read_items(folder)}
    key = read_key(folder)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    ratings, damaged = RatingLog(folder).read_counted()
    for r in ratings:
        if r.get("item") in items:
            latest[(r["rater"], r["item"])] = r
    out = []
    for (rater, item_id), r in sorted(latest.items()):
        a_is = key["items"][item_id]["A"]
        b_is = "other" if a_is == "adapter" else "adapter"
        pref = r["preference"]
        outcome = {"A": a_is, "B": b_is}.get(pref, pref)
        it = items[item_id]
        out.append(
            Unblinded(
                item=item_id,
                rater=rater,
                category=it.category,
                difficulty=it.difficulty,
                outcome=outcome,
                scores={a_is: r["a"], b_is: r["b"]},
                comment=r.get("comment", ""),
            )
        )
    return out, key, len(items), damaged


def _win(rows: list[Unblinded]) -> Estimate:
    decisive = [r for r in rows if r.outcome in ("adapter", "other")]
    return wilson(sum(r.outcome == "adapter" for r in decisive), len(decisive))


def _win_by_item(rows: list[Unblinded], seed: int) -> Estimate:
    """Per item, the adapter's share of decisive ratings; the mean over items, bootstrapped."""
    per: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        if r.outcome in ("adapter", "other"):
            per[r.item].append(r.outcome == "adapter")
    return bootstrap_mean([sum(v) / len(v) for v in per.values()], seed=seed)


def legally_correct(score: dict[str, Any]) -> bool:
    return (
        score["accuracy"] == "correct"
        and not score.get("invented_law", False)
        and score["citations"] != "wrong"
    )


def _quality(rows: list[Unblinded], system: str, seed: int) -> dict[str, Estimate]:
    s = [r.scores[system] for r in rows]
    return {
        "accuracy": wilson(sum(x["accuracy"] == "correct" for x in s), len(s)),
        "completeness": bootstrap_mean([x["completeness"] for x in s], seed=seed),
        "legal_correctness": wilson(sum(legally_correct(x) for x in s), len(s)),
        "invented_law": wilson(sum(bool(x.get("invented_law")) for x in s), len(s)),
    }


def _groups(rows: list[Unblinded], attr: str) -> dict[str, list[Unblinded]]:
    out: dict[str, list[Unblinded]] = defaultdict(list)
    for r in rows:
        out[getattr(r, attr) or "(none)"].append(r)
    return dict(sorted(out.items()))


def agreement(rows: list[Unblinded]) -> dict[str, Any]:
    by_item: dict[str, dict[str, Unblinded]] = defaultdict(dict)
    for r in rows:
        by_item[r.item][r.rater] = r
    shared = {i: v for i, v in by_item.items() if len(v) > 1}
    raters = sorted({r.rater for r in rows})
    out: dict[str, Any] = {"items_rated_by_several": len(shared), "raters": len(raters)}
    if not shared:
        return out
    # Cohen: the pair of raters with the most items in common.
    pairs = Counter((x, y) for v in shared.values() for x in v for y in v if x < y).most_common(1)
    if pairs:
        (x, y), n = pairs[0]
        common = [v for v in shared.values() if x in v and y in v]
        out["cohen_pair"] = [x, y, n]
        out["cohen_kappa_preference"] = cohen_kappa(
            [v[x].outcome for v in common], [v[y].outcome for v in common]
        )
    # Fleiss: the items with the most common number of raters.
    m = Counter(len(v) for v in shared.values()).most_common(1)[0][0]
    table = [
        [sum(r.outcome == o for r in v.values()) for o in OUTCOMES]
        for v in shared.values()
        if len(v) == m
    ]
    out["fleiss_items"] = len(table)
    out["fleiss_raters_per_item"] = m
    out["fleiss_kappa_preference"] = fleiss_kappa(table)
    # Krippendorff: raters x units, each system's answer a unit for the ordinal scales.
    items = sorted(shared)
    code = {o: i for i, o in enumerate(OUTCOMES)}
    out["alpha_preference"] = krippendorff_alpha(
        [[code[by_item[i][r].outcome] if r in by_item[i] else None for i in items] for r in raters],
        "nominal",
    )
    for measure, conv in (
        ("accuracy", lambda s: ACCURACY_ORDER[s["accuracy"]]),
        ("completeness", lambda s: s["completeness"]),
    ):
        out[f"alpha_{measure}"] = krippendorff_alpha(
            [
                [
                    conv(by_item[i][r].scores[sys_]) if r in by_item[i] else None
                    for i in items
                    for sys_ in ("adapter", "other")
                ]
                for r in raters
            ],
            "ordinal",
        )
    return out


def build_report(folder: Path, seed: int = 0) -> Report:
    rows, key, n_items, damaged = unblind(folder)
    if not rows:
        raise KazftError(
            f"{folder / RATINGS}: no ratings yet; raters grade the items with "
            f"kazft review serve {folder}"
        )
    quality: dict[str, dict[str, dict[str, Estimate]]] = {}
    for system in ("adapter", "other"):
        groups = {"all": rows, **_groups(rows, "difficulty")}
        quality[system] = {d: _quality(g, system, seed) for d, g in groups.items()}
    return Report(
        systems=key["systems"],
        items=n_items,
        ratings=len(rows),
        raters=sorted({r.rater for r in rows}),
        outcomes={o: sum(r.outcome == o for r in rows) for o in OUTCOMES},
        win=_win(rows),
        win_bootstrap=_win_by_item(rows, seed),
        by_category={k: _win(g) for k, g in _groups(rows, "category").items()},
        by_difficulty={k: _win(g) for k, g in _groups(rows, "difficulty").items()},
        quality=quality,
        agreement=agreement(rows),
        damaged=damaged,
        rated=rows,
    )
