"""Ratings out of kazft: preference pairs for DPO, and Label Studio / Argilla imports.

None of these needs the key: A and B are the answers as raters saw them.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from kazft.review.store import Item, RatingLog, read_items

EXPORTS = ("dpo", "label-studio", "argilla")

LABEL_STUDIO_CONFIG = """<View>
  <Header value="Question"/>
  <Text name="question" value="$question"/>
  <Header value="Answer A"/>
  <Text name="answer_a" value="$answer_a"/>
  <Header value="Answer B"/>
  <Text name="answer_b" value="$answer_b"/>
  <Choices name="preference" toName="question" choice="single" showInline="true">
    <Choice value="A"/><Choice value="B"/><Choice value="tie"/><Choice value="both_bad"/>
  </Choices>
  <TextArea name="comment" toName="question"/>
</View>
"""


def _latest(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """item id -> each rater's latest rating of it."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in RatingLog(folder).read():
        latest[(r["rater"], r["item"])] = r
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (_, item), r in sorted(latest.items()):
        by_item[item].append(r)
    return by_item


def _prompt(it: Item) -> str:
    return it.question + (f"\n\n{it.input}" if it.input else "")


def dpo_pairs(folder: Path) -> list[dict[str, str]]:
    """(prompt, chosen, rejected) for items whose raters preferred A or B by majority."""
    out = []
    ratings = _latest(folder)
    for it in read_items(folder):
        votes = Counter(
            r["preference"] for r in ratings.get(it.id, []) if r["preference"] in ("A", "B")
        )
        if not votes or votes["A"] == votes["B"]:
            continue
        chosen, rejected = (it.a, it.b) if votes["A"] > votes["B"] else (it.b, it.a)
        out.append({"prompt": _prompt(it), "chosen": chosen, "rejected": rejected})
    return out


def label_studio(folder: Path) -> list[dict[str, Any]]:
    ratings = _latest(folder)
    tasks = []
    for it in read_items(folder):
        annotations = [
            {
                "completed_by": {"email": r["rater"]},
                "result": [
                    {
                        "from_name": "preference",
                        "to_name": "question",
                        "type": "choices",
                        "value": {"choices": [r["preference"]]},
                    },
                    *(
                        [
                            {
                                "from_name": "comment",
                                "to_name": "question",
                                "type": "textarea",
                                "value": {"text": [r["comment"]]},
                            }
                        ]
                        if r.get("comment")
                        else []
                    ),
                ],
            }
            for r in ratings.get(it.id, [])
        ]
        tasks.append(
            {
                "data": {
                    "id": it.id,
                    "question": _prompt(it),
                    "answer_a": it.a,
                    "answer_b": it.b,
                    "category": it.category,
                    "difficulty": it.difficulty,
                },
                "annotations": annotations,
            }
        )
    return tasks


def argilla(folder: Path) -> list[dict[str, Any]]:
    ratings = _latest(folder)
    return [
        {
            "id": it.id,
            "fields": {"question": _prompt(it), "answer_a": it.a, "answer_b": it.b},
            "metadata": {"category": it.category, "difficulty": it.difficulty},
            "responses": [
                {
                    "user": r["rater"],
                    "values": {
                        "preference": {"value": r["preference"]},
                        "comment": {"value": r.get("comment", "")},
                        "accuracy_a": {"value": r["a"]["accuracy"]},
                        "accuracy_b": {"value": r["b"]["accuracy"]},
                        "completeness_a": {"value": r["a"]["completeness"]},
                        "completeness_b": {"value": r["b"]["completeness"]},
                    },
                    "status": "submitted",
                }
                for r in ratings.get(it.id, [])
            ],
        }
        for it in read_items(folder)
    ]


def write_export(folder: Path, kind: str, out_dir: Path) -> list[Path]:
    from kazft.artifacts.atomic import atomic_write

    def put(path: Path, text: str) -> Path:
        atomic_write(path, text)
        return path

    def jsonl(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "dpo":
        return [put(out_dir / "dpo.jsonl", jsonl(dpo_pairs(folder)))]
    if kind == "label-studio":
        return [
            put(
                out_dir / "label-studio.json",
                json.dumps(label_studio(folder), ensure_ascii=False, indent=1),
            ),
            put(out_dir / "label-studio-config.xml", LABEL_STUDIO_CONFIG),
        ]
    return [put(out_dir / "argilla.jsonl", jsonl(argilla(folder)))]
