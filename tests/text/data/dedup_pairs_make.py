"""Build dedup_pairs.jsonl: labelled near-duplicate and distinct record pairs.

Run once from the repository root (``python tests/text/data/dedup_pairs_make.py``);
the output is committed and the test reads only the JSONL. Near duplicates are
the kinds of copies found in real Q&A collections: punctuation changed, a few
words edited (a suffix, a synonym, a number), a sentence added, or several at
once. Distinct pairs share boilerplate on purpose: the same statute name and
opening phrase, the same question template, the same closing advice.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 17
ROOT = Path(__file__).resolve().parents[3]

WORD_EDITS = [
    ("болады", "болмақ"),
    ("мүмкін", "ықтимал"),
    ("міндетті", "тиіс"),
    ("сәйкес", "орай"),
    ("жағдайда", "кезде"),
    ("немесе", "не"),
    ("туралы", "жөнінде"),
    ("бірақ", "алайда"),
    ("жұмыс беруші", "жұмыс берушi"),
    ("қызметкер", "жұмыскер"),
    ("сот", "сот органы"),
    ("мерзім", "уақыт"),
]
ADDED = [
    " Толығырақ білікті заңгерден кеңес алыңыз.",
    " Бұл жауап жалпы ақпарат ретінде берілген.",
    " Құжаттардың көшірмелерін сақтап қойыңыз.",
    " Мерзімдерді өткізіп алмаған жөн.",
]


def punct(text: str, rng: random.Random) -> str:
    text = text.replace("«", '"').replace("»", '"')
    text = re.sub(r",\s", lambda m: " " if rng.random() < 0.5 else m.group(0), text)
    text = re.sub(r"\.$", "!", text.rstrip())
    return text.replace(" - ", " — ")


def words(text: str, rng: random.Random, n: int = 3) -> str:
    edits = [e for e in WORD_EDITS if e[0] in text]
    rng.shuffle(edits)
    for old, new in edits[:n]:
        text = text.replace(old, new, 1)
    return re.sub(r"\d+", lambda m: str(int(m.group(0)) + 1), text, count=1)


def added(text: str, rng: random.Random) -> str:
    return text + rng.choice(ADDED)


def main() -> None:
    rng = random.Random(SEED)
    recs = [json.loads(x) for x in (ROOT / "data/legal/legal_qa.jsonl").open(encoding="utf-8")]
    picks = rng.sample(range(len(recs)), 80)
    rows = []
    kinds = ["punctuation", "words", "sentence_added", "words+punctuation"]
    for n, i in enumerate(picks[:40]):
        r = recs[i]
        kind = kinds[n % 4]
        out = r["output"]
        if kind == "punctuation":
            out = punct(out, rng)
        elif kind == "words":
            out = words(out, rng)
        elif kind == "sentence_added":
            out = added(out, rng)
        else:
            out = punct(words(out, rng, 2), rng)
        b = {**r, "output": out}
        if kind != "punctuation":
            b["instruction"] = punct(r["instruction"], rng)
        rows.append({"label": "near", "kind": kind, "a": r, "b": b})
    # Distinct: two different records given the same statute opening and closing.
    openings = [
        "Қазақстан Республикасының Азаматтық кодексіне сәйкес мынаны ескеру қажет. ",
        "Қазақстан Республикасының Еңбек кодексінің нормаларына сүйенсек, жауап былай. ",
        "Қазақстан Республикасының Салық кодексі (Салық және бюджетке төленетін басқа да "
        "міндетті төлемдер туралы) бойынша түсіндіреміз. ",
        "Сұрағыңызға рахмет. Қазақстан Республикасының заңнамасына сәйкес қысқаша жауап береміз. ",
    ]
    closing = " Нақты жағдайыңызды бағалау үшін құжаттарды заңгерге көрсетіңіз."
    for n in range(40):
        i, j = picks[40 + n], picks[(40 + n + 1) % 40 + 40]
        head = openings[n % len(openings)]
        a = {**recs[i], "output": head + recs[i]["output"] + closing}
        b = {**recs[j], "output": head + recs[j]["output"] + closing}
        if n % 2:
            b["instruction"] = a["instruction"]  # the same question, a different case
        rows.append({"label": "distinct", "kind": "shared_boilerplate", "a": a, "b": b})
    path = Path(__file__).with_name("dedup_pairs.jsonl")
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
