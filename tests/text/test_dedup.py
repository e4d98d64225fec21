"""MinHash and dedup: exact and near duplicates, within and across sets, clusters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.text.dedup import Deduplicator, DedupSource, write_outputs
from kazft.text.minhash import LSHIndex, MinHasher, canonical, lsh_params, similarity

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


def test_minhash_is_deterministic_and_estimates_jaccard():
    h1, h2 = MinHasher(), MinHasher()
    sig_a = h1.signature(canonical(A))
    assert (sig_a == h2.signature(canonical(A))).all()
    assert similarity(sig_a, h1.signature(canonical(A_NEAR))) > 0.8
    assert similarity(sig_a, h1.signature(canonical(B))) < 0.2
    assert canonical("  Қазақ   ТІЛІ\n") == "қазақ тілі"


def test_lsh_parameters_and_candidates():
    assert lsh_params(0.8, 128) == (11, 11)
    hasher, index = MinHasher(), LSHIndex(0.8, 128)
    index.insert(0, hasher.signature(canonical(A)))
    index.insert(1, hasher.signature(canonical(B)))
    assert index.query(hasher.signature(canonical(A_NEAR))) == {0}


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
