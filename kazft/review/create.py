"""``kazft review create``: answer every question with both systems, then blind the pairs.

Both systems answer through kazft's batch generation (the questions rendered as
training rendered them, greedy by default, resumable: an interrupted create
picks up where it stopped, and a resume with other settings is refused). The
"other" system is the base model alone, another checkpoint or another run, on
the same base and with the same recipe prompt settings.

Blinding: a seeded generator (the seed is recorded) draws for every item whether
the adapter's answer is A or B, and an item id that says nothing of either; the
key goes to key/key.json, which the rating page never reads.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kazft.artifacts.atomic import atomic_write
from kazft.errors import KazftError
from kazft.review.store import ITEMS, KEY, KEY_DIR, META, Item


@dataclass(frozen=True)
class System:
    name: str  # "adapter" | "other"
    describe: str  # for the report: what it was
    adapter: str | None  # adapter path, or None for the base alone


def systems(run: Path, against: str) -> tuple[System, System]:
    """(the run's adapter, what it is compared with), checked before any model loads."""
    if not (run / "recipe.yaml").is_file():
        raise KazftError(
            f"{run}: not a run folder (no recipe.yaml); give the folder `kazft train` wrote "
            "(its output.dir)"
        )
    mine = System("adapter", f"adapter of {run}", str(run))
    if against == "base":
        return mine, System("other", "the base model without an adapter", None)
    other = Path(against)
    if not other.exists():
        raise KazftError(
            f"--against {against}: no such checkpoint or run; give base, a checkpoint "
            "folder (RUN/checkpoints/step-000200) or another run folder"
        )
    if other.resolve() == run.resolve():
        raise KazftError("--against names the run itself; compare it with something else")
    return mine, System("other", f"adapter of {other}", str(other))


def _answer(
    run: Path, system: System, questions: Path, out: Path, sampling: Any, note: Any
) -> None:
    from kazft.generate.batch import preflight, run_batch
    from kazft.generate.engine import load_engine
    from kazft.generate.source import resolve_source

    source = resolve_source(
        recipe=str(run / "recipe.yaml"),
        adapter=system.adapter,
        no_adapter=system.adapter is None,
    )
    qs = preflight(str(questions), out, source, sampling)
    engine = load_engine(source)
    summary = run_batch(engine, source.data, sampling, str(questions), out, questions=qs, note=note)
    note(f"kazft review: {system.describe}: {summary.line()}")


def blind(answers: dict[str, list[dict[str, Any]]], seed: int) -> tuple[list[Item], dict[str, Any]]:
    """(items for raters, key) from each system's answers, in question order."""
    rng = random.Random(seed)
    ours, theirs = answers["adapter"], answers["other"]
    if len(ours) != len(theirs):
        raise KazftError("the two systems answered different numbers of questions")
    items, key = [], {}
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a["instruction"] != b["instruction"]:
            raise KazftError(f"question {index + 1} differs between the two answer files")
        adapter_is_a = rng.random() < 0.5
        item_id = f"{rng.getrandbits(64):016x}"
        left, right = (a, b) if adapter_is_a else (b, a)
        items.append(
            Item(
                id=item_id,
                question=a["instruction"],
                input=a.get("input", ""),
                category=a.get("category"),
                difficulty=a.get("difficulty"),
                reference=a.get("reference"),
                a=left["generated"],
                b=right["generated"],
            )
        )
        key[item_id] = {"index": index, "A": "adapter" if adapter_is_a else "other"}
    return items, key


def create_review(
    run: Path,
    questions: Path,
    out: Path,
    against: str = "base",
    seed: int = 0,
    max_tokens: int = 512,
    note: Any = print,
) -> dict[str, Any]:
    from kazft.generate.batch import read_answers, read_questions
    from kazft.generate.engine import Sampling

    mine, other = systems(run, against)
    read_questions(str(questions))  # bad lines are reported before any model loads
    if (out / ITEMS).exists():
        raise KazftError(
            f"{out} already holds a review ({ITEMS}); raters' ratings refer to its items. "
            "Choose another -o folder"
        )
    (out / KEY_DIR).mkdir(parents=True, exist_ok=True)
    sampling = Sampling(max_tokens=max_tokens, temperature=0.0, seed=seed)
    answers = {}
    for system in (mine, other):
        path = out / KEY_DIR / f"answers-{system.name}.jsonl"
        _answer(run, system, questions, path, sampling, note)
        answers[system.name] = read_answers(path)[0]
    items, key = blind(answers, seed)
    meta = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "questions": str(questions),
        "items": len(items),
        "seed": seed,
        "max_tokens": max_tokens,
        "decoding": "greedy",
    }
    _write_json(
        out / KEY,
        {"seed": seed, "systems": {s.name: s.describe for s in (mine, other)}, "items": key},
    )
    atomic_write(out / ITEMS, "".join(i.model_dump_json() + "\n" for i in items))
    _write_json(out / META, meta)
    return meta


def _write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
