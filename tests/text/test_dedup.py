"""MinHash and dedup: exact and near duplicates, within and across sets, clusters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasketch import MinHashLSH

from kazft.text.dedup import (
    Deduplicator,
    DedupSource,
    canonical,
    jaccard,
    lsh_bands,
    shingles,
    write_outputs,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("data")

A = "Қазақстан Республикасы өзін демократиялық, зайырлы, құқықтық және әлеуметтік мемлекет ретінде орнықтырады."
A_NEAR = A.replace("орнықтырады.", "орнықтырады!").replace("зайырлы", "зайырлы,")
B = "Мемлекеттің ең қымбат қазынасы — адам және адамның өмірі, құқықтары мен бостандықтары."
C = "Республиканың егемендігі оның бүкіл аумағына таралады."
D = "Халық билікті тікелей республикалық референдум және еркін сайлау арқылы жүзеге асырады."


def rec(instruction: str, output: str = "Жауап.") -> str:
    return json.dumps(
        {"instruction": instruction, "input": "", "output": output}, ensure_ascii=False
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_canonical_and_exact_jaccard():
    assert canonical("  Қазақ   ТІЛІ\n") == "қазақ тілі"
    assert shingles("абвгде", 5) == {"абвгд", "бвгде"}
    assert shingles("абв", 5) == {"абв"}
    assert jaccard({"a", "b"}, {"b", "c"}) == 1 / 3


def test_lsh_bands_catch_a_pair_at_the_threshold():
    for threshold in (0.5, 0.8, 0.9):
        bands, rows = lsh_bands(threshold, 128)
        assert bands * rows <= 128
        assert (1 - threshold**rows) ** bands <= 0.01
    assert lsh_bands(0.8, 128) == (21, 6)


def _pair_removed(tmp_path: Path, a: dict, b: dict) -> tuple[bool, Deduplicator]:
    src = write(
        tmp_path / "pair.jsonl",
        [json.dumps(a, ensure_ascii=False), json.dumps(b, ensure_ascii=False)],
    )
    s = DedupSource("train", src, tmp_path / "o.jsonl")
    dd = Deduplicator()
    dd.run([s])
    return s.stats["kept"] == 1, dd


def test_labelled_near_duplicates_and_distinct_pairs(tmp_path):
    """Real edits (punctuation, a few words, a sentence added) are caught; distinct
    records sharing a statute opening and closing advice are never removed."""
    rows = [json.loads(x) for x in (DATA / "dedup_pairs.jsonl").open(encoding="utf-8")]
    near = [r for r in rows if r["label"] == "near"]
    distinct = [r for r in rows if r["label"] == "distinct"]
    assert len(near) >= 40 and len(distinct) >= 40
    found = sum(_pair_removed(tmp_path, r["a"], r["b"])[0] for r in near)
    assert found / len(near) >= 0.95, f"recall {found}/{len(near)}"
    removed = [
        r["a"]["instruction"] for r in distinct if _pair_removed(tmp_path, r["a"], r["b"])[0]
    ]
    assert removed == []


def test_the_sample_keeps_every_record(tmp_path):
    """legal_qa.jsonl has no two records above 0.29 exact similarity: nothing goes."""
    s = DedupSource("train", ROOT / "data/legal/legal_qa.jsonl", tmp_path / "o.jsonl")
    dd = Deduplicator()
    dd.run([s])
    assert s.summary()["kept"] == s.summary()["records"] == 340
    assert dd.clusters == {}


def test_candidates_are_confirmed_by_exact_similarity(tmp_path):
    """With a coarse index every pair is a candidate; only exact similarity decides,
    and the clusters carry the exact figure."""
    src = write(tmp_path / "t.txt", [A, B, A_NEAR, C, D])
    s = DedupSource("train", src, tmp_path / "o.txt")
    dd = Deduplicator()
    dd.lsh = MinHashLSH(num_perm=128, params=(128, 1))  # nearly everything collides
    dd.run([s])
    assert s.stats["near"] == 1 and s.stats["kept"] == 4
    assert dd.rejected > 0
    [row] = dd.cluster_rows()
    exact = jaccard(shingles(canonical(A)), shingles(canonical(A_NEAR)))
    assert row["removed"] == [{"record": f"{src}:3", "kind": "near", "similarity": round(exact, 4)}]


def test_within_and_across_sets(tmp_path):
    train = write(tmp_path / "train.jsonl", [rec(A), rec(B), rec(A), rec(A_NEAR), rec(C), rec(D)])
    valid = write(tmp_path / "valid.jsonl", [rec(C), rec(B.upper())])
    test = write(tmp_path / "test.jsonl", [rec(D)])
    out = tmp_path / "out"
    out.mkdir()
    sources = [
        DedupSource("train", train, out / "train.jsonl"),
        DedupSource("valid", valid, out / "valid.jsonl"),
        DedupSource("test", test, out / "test.jsonl"),
    ]
    dd = Deduplicator(threshold=0.8)
    dd.run(sources)
    write_outputs(sources)
    stats = {s.set_name: s.summary() for s in sources}
    assert stats == {
        "train": {"records": 6, "exact": 1, "near": 1, "cross_set": 3, "kept": 1},
        "valid": {"records": 2, "exact": 0, "near": 0, "cross_set": 0, "kept": 2},
        "test": {"records": 1, "exact": 0, "near": 0, "cross_set": 0, "kept": 1},
    }
    # train keeps only A; B (case-folded copy in valid), C (valid) and D (test) go
    assert (out / "train.jsonl").read_text(encoding="utf-8") == rec(A) + "\n"
    assert (out / "valid.jsonl").read_text(encoding="utf-8") == rec(C) + "\n" + rec(
        B.upper()
    ) + "\n"
    assert (out / "test.jsonl").read_text(encoding="utf-8") == rec(D) + "\n"
    clusters = list(dd.cluster_rows())
    assert clusters == [
        {
            "cluster": 1,
            "kept": f"{test}:1",
            "removed": [{"record": f"{train}:6", "kind": "exact", "similarity": 1.0}],
        },
        {
            "cluster": 2,
            "kept": f"{valid}:1",
            "removed": [{"record": f"{train}:5", "kind": "exact", "similarity": 1.0}],
        },
        {
            "cluster": 3,
            "kept": f"{valid}:2",
            "removed": [{"record": f"{train}:2", "kind": "exact", "similarity": 1.0}],
        },
        {
            "cluster": 4,
            "kept": f"{train}:1",
            "removed": [
                {"record": f"{train}:3", "kind": "exact", "similarity": 1.0},
                {
                    "record": f"{train}:4",
                    "kind": "near",
                    "similarity": clusters[3]["removed"][1]["similarity"],
                },
            ],
        },
    ]
    assert clusters[3]["removed"][1]["similarity"] >= 0.8


@pytest.mark.parametrize(("threshold", "kept"), [(0.8, 1), (0.99, 2)])
def test_threshold_flag(tmp_path, threshold, kept):
    src = write(tmp_path / "t.txt", [A, A_NEAR])
    s = DedupSource("train", src, tmp_path / "o.txt")
    Deduplicator(threshold=threshold).run([s])
    assert s.stats["kept"] == kept


def test_exact_only(tmp_path):
    src = write(tmp_path / "t.txt", [A, A_NEAR, A])
    s = DedupSource("train", src, tmp_path / "o.txt")
    Deduplicator(near=False).run([s])
    assert (s.stats["exact"], s.stats["near"], s.stats["kept"]) == (1, 0, 2)
