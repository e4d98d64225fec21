"""kazft review end to end on the tiny model: create (blind, resumable), rate over HTTP,
report (numbers counted by hand), exports; blindness of the page and its JSON; ratings
surviving a kill -9 of the server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kazft.cli import main
from kazft.review.app import create_review_app
from kazft.review.report import build_report
from kazft.review.store import read_items, read_key

from .review_helpers import make_review

QUESTIONS = [
    {
        "instruction": "Еңбек шарты қандай нысанда жасалады?",
        "category": "labour",
        "difficulty": "basic",
    },
    {
        "instruction": "Салықтық өсімпұл қалай есептеледі?",
        "category": "tax",
        "difficulty": "medium",
    },
    {
        "instruction": "Неке шарты қашан жасалады?",
        "category": "family",
        "difficulty": "complex",
        "reference": "Некеге тұрғанға дейін немесе неке кезінде.",
    },
    {"instruction": "Банк құпиясы деген не?", "category": "banking", "difficulty": "basic"},
]


def _score(acc="correct", comp=4, cit="none", invented=False):
    return {"accuracy": acc, "completeness": comp, "citations": cit, "invented_law": invented}


@pytest.fixture(scope="module")
def review(tiny_dirs, tmp_path_factory) -> Path:
    return make_review(tmp_path_factory.mktemp("review"), tiny_dirs["gemma3"], QUESTIONS, 5, 7)


def test_create_blinds_with_a_recorded_seed(review: Path):
    items = read_items(review)
    key = read_key(review)
    assert len(items) == len(QUESTIONS) and key["seed"] == 7
    answers = {
        s: [
            json.loads(line)["generated"]
            for line in (review / "key" / f"answers-{s}.jsonl").read_text().splitlines()
        ]
        for s in ("adapter", "other")
    }
    assert answers["adapter"] != answers["other"]  # the adapter changes the answers
    sides = []
    for it in items:
        k = key["items"][it.id]
        mine = answers["adapter"][k["index"]]
        theirs = answers["other"][k["index"]]
        assert (it.a, it.b) == ((mine, theirs) if k["A"] == "adapter" else (theirs, mine))
        sides.append(k["A"])
    assert set(sides) == {"adapter", "other"}  # seed 7 puts the adapter on both sides
    assert items[2].reference and items[0].category == "labour"


def test_create_resumes_and_refuses_to_overwrite(review: Path, tmp_path: Path, capsys):
    # An existing review is never overwritten (its ratings refer to its items).
    q = review.parent / "questions.jsonl"
    run = review.parent / "run"
    assert main(["review", "create", str(run), "--questions", str(q), "-o", str(review)]) == 2
    assert "already holds a review" in capsys.readouterr().err
    # Interrupted after the answers: a new create reuses them and generates nothing.
    copy = tmp_path / "again"
    (copy / "key").mkdir(parents=True)
    for s in ("adapter", "other"):
        src = review / "key" / f"answers-{s}.jsonl"
        (copy / "key" / src.name).write_text(src.read_text())
    assert (
        main(
            [
                "review",
                "create",
                str(run),
                "--questions",
                str(q),
                "-o",
                str(copy),
                "--max-tokens",
                "6",
                "--seed",
                "7",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert err.count("0 answered now") == 2 or "4 already answered" in err, err
    assert [i.model_dump() for i in read_items(copy)] == [
        i.model_dump() for i in read_items(review)
    ]


def test_page_and_api_never_reveal_the_systems(review: Path):
    client = TestClient(create_review_app(review))
    page = client.get("/").text + client.get("/static/review.js").text
    data = client.get("/api/review").text + client.get("/api/progress", params={"rater": "x"}).text
    served = page + data
    key = read_key(review)
    for secret in ("adapter", "other", "base model", str(review.parent / "run")):
        assert secret not in data, secret
    assert "answers-" not in served and "key.json" not in served
    for desc in key["systems"].values():
        assert desc not in served
    assert client.get("/key/key.json").status_code == 404
    assert client.get("/static/..%2Fkey%2Fkey.json").status_code == 404
    csp = client.get("/").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp


def test_ratings_are_validated_and_reported(review: Path, tmp_path: Path):
    client = TestClient(create_review_app(review))
    items = read_items(review)
    key = read_key(review)["items"]

    def post(rater, item, pref, a=None, b=None, **kw):
        body = {
            "item": item.id,
            "rater": rater,
            "preference": pref,
            "a": a or _score(),
            "b": b or _score(),
            **kw,
        }
        return client.post("/api/ratings", json=body)

    assert post("x", items[0], "C").status_code == 400
    bad = client.post("/api/ratings", json={"item": items[0].id, "rater": "x"})
    assert bad.status_code == 400 and "error" in bad.json()
    assert client.post("/api/ratings", content=b"{not json").status_code == 400
    assert post("x", items[0], "A", extra=1).status_code == 400  # extra keys refused
    unknown = client.post(
        "/api/ratings",
        json={"item": "nope", "rater": "x", "preference": "A", "a": _score(), "b": _score()},
    )
    assert unknown.status_code == 404

    def side_of(item, system):  # which letter shows ``system``'s answer
        return "A" if key[item.id]["A"] == system else "B"

    # Rater aida prefers the adapter on items 0-2, then changes her mind on item 2 (tie);
    # rater berik prefers the other system on item 0 and the adapter on item 1.
    assert post("aida", items[0], side_of(items[0], "adapter")).status_code == 200
    assert post("aida", items[1], side_of(items[1], "adapter")).status_code == 200
    assert post("aida", items[2], side_of(items[2], "adapter")).status_code == 200
    assert post("aida", items[2], "tie").status_code == 200
    wrong = _score(acc="wrong", comp=1, cit="wrong", invented=True)
    a = wrong if key[items[0].id]["A"] == "adapter" else _score()
    b = _score() if key[items[0].id]["A"] == "adapter" else wrong
    assert post("berik", items[0], side_of(items[0], "other"), a=a, b=b).status_code == 200
    assert post("berik", items[1], side_of(items[1], "adapter")).status_code == 200

    r = build_report(review)
    assert r.ratings == 5 and r.raters == ["aida", "berik"]
    assert r.outcomes == {"adapter": 3, "other": 1, "tie": 1, "both_bad": 0}
    assert r.win.value == pytest.approx(3 / 4) and r.win.n == 4
    # berik's one answer with invented law and a wrong citation: the adapter's on item 0
    assert r.quality["adapter"]["all"]["legal_correctness"].value == pytest.approx(4 / 5)
    assert r.quality["other"]["all"]["legal_correctness"].value == pytest.approx(1.0)
    assert r.agreement["items_rated_by_several"] == 2
    # aida and berik: (adapter, adapter) on item 1, (adapter, other) on item 0
    assert r.agreement["cohen_pair"] == ["aida", "berik", 2]

    out = tmp_path / "report"
    assert (
        main(
            [
                "review",
                "report",
                str(review),
                "--out",
                str(out),
                "--export",
                "dpo",
                "--export",
                "label-studio",
                "--export",
                "argilla",
            ]
        )
        == 0
    )
    md = (out / "report.md").read_text()
    assert "75% [" in md and "Krippendorff" in md and "legal correctness" in md
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    assert (out / "win_rates.png").stat().st_size > 1000
    pairs = [json.loads(line) for line in (out / "dpo.jsonl").read_text().splitlines()]
    # item 0: 1 vote each way (no pair); item 1: both for the adapter; item 2: a tie
    assert len(pairs) == 1 and pairs[0]["prompt"] == items[1].question
    adapter_text = items[1].a if key[items[1].id]["A"] == "adapter" else items[1].b
    assert pairs[0]["chosen"] == adapter_text
    ls = json.loads((out / "label-studio.json").read_text())
    assert len(ls) == len(items) and ls[0]["annotations"]
    assert len((out / "argilla.jsonl").read_text().splitlines()) == len(items)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ratings_survive_kill_9_of_the_server(review: Path, tmp_path: Path):
    import httpx

    # A copy of the review, so this test's ratings stay its own.
    folder = tmp_path / "rev"
    folder.mkdir()
    for name in ("items.jsonl", "review.json"):
        (folder / name).write_text((review / name).read_text())
    items = read_items(folder)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "kazft", "review", "serve", str(folder), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/api/review", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.2)
        for it in items[:3]:
            body = {"item": it.id, "rater": "dana", "preference": "B", "a": _score(), "b": _score()}
            assert httpx.post(url + "/api/ratings", json=body, timeout=10).status_code == 200
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = (folder / "ratings.jsonl").read_text().splitlines()
    assert [json.loads(x)["item"] for x in lines] == [it.id for it in items[:3]]
    # A torn last line (a crash mid-write) is skipped, and the next rating starts a new line.
    with open(folder / "ratings.jsonl", "a") as f:
        f.write('{"item": "torn')
    client = TestClient(create_review_app(folder))
    assert len(client.get("/api/progress", params={"rater": "dana"}).json()["rated"]) == 3
    body = {"item": items[3].id, "rater": "dana", "preference": "A", "a": _score(), "b": _score()}
    assert client.post("/api/ratings", json=body).status_code == 200
    assert len(client.get("/api/progress", params={"rater": "dana"}).json()["rated"]) == 4


def test_review_serve_refuses_an_open_bind_without_a_key(review: Path, capsys):
    assert main(["review", "serve", str(review), "--host", "0.0.0.0"]) == 2
    assert "--api-key" in capsys.readouterr().err
    assert main(["review", "report", str(review.parent / "nothing")]) == 2
