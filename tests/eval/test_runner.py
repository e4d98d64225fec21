"""End to end on the tiny model: train briefly with kazft's trainer, then evaluate.

One short QLoRA run (module-scoped) on six short Kazakh Q&A records; the adapter
must beat the base on its own training answers, the report files must appear
with their plots, and checkpoint selection must agree with the trainer's own
validation loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.cli import main
from kazft.errors import KazftError
from kazft.eval.runner import Options, evaluate, evaluate_checkpoints

pytestmark = pytest.mark.slow

RECORDS = [
    ("Еңбек шарты қалай жасалады?", "Жазбаша нысанда жасалады.", "labor"),
    ("Сынақ мерзімі қанша?", "Үш айдан аспайды.", "labor"),
    ("Салық декларациясы қашан тапсырылады?", "Наурыздың отызы бірінен кешіктірмей.", "tax"),
    ("ҚҚС мөлшерлемесі қандай?", "Он екі пайыз.", "tax"),
    ("Айыппұл төленбесе не болады?", "Мәжбүрлеп өндіріледі.", "administrative"),
    ("Неке қай жастан қиылады?", "Он сегіз жастан.", "family"),
]
ITERS, SAVE_EVERY = 16, 8
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _recipe(tmp: Path) -> Path:
    data = tmp / "qa.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"instruction": q, "input": "", "output": a, "category": c}, ensure_ascii=False
            )
            + "\n"
            for q, a, c in RECORDS
        ),
        encoding="utf-8",
    )
    recipe = tmp / "recipe.yaml"
    # A strong update on a random tiny model: every projection, a high constant rate.
    recipe.write_text(
        f"""\
model: {{base: "kazft:tiny", quantize: {{bits: 4, group_size: 64}}}}
data:
  train: {data}
  split: {{valid: 0.34, test: 0.0}}
  max_seq_length: 64
lora:
  rank: 16
  alpha: 32
  dropout: 0.0
  layers: 6
  targets: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
train:
  iters: {ITERS}
  batch_size: 4
  learning_rate: 1.0e-2
  schedule: constant
  grad_clip: null
  save_every: {SAVE_EVERY}
  eval_every: {SAVE_EVERY}
  val_batches: 1
  report_every: 4
  seed: 0
output: {{dir: {tmp / "run"}}}
""",
        encoding="utf-8",
    )
    return recipe


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    from kazft.recipe import load_recipe
    from kazft.train.trainer import train

    tmp = tmp_path_factory.mktemp("evalrun")
    # Uncompiled: on the tiny model compiling costs more than it saves.
    train(load_recipe(_recipe(tmp)), progress=None, compiled=False, log=lambda _m: None)
    return tmp / "run"


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("probes")
    (tmp / "kk.txt").write_text("Дала кең, аспан ашық.\nАлматы – үлкен қала.\n", encoding="utf-8")
    (tmp / "ru.txt").write_text(
        "Степь широка, небо ясно.\nМосква – большой город.\n", encoding="utf-8"
    )
    return {"kk": str(tmp / "kk.txt"), "ru": str(tmp / "ru.txt")}


@pytest.fixture(scope="module")
def train_eval(run_dir: Path, probes: dict[str, str]) -> tuple[dict, dict]:
    opts = Options(target=str(run_dir), split="train", max_tokens=12, samples=2, probes=probes)
    return evaluate(opts)


def test_adapter_beats_base_on_its_training_answers(train_eval) -> None:
    result, _ = train_eval
    base, adapter = result["systems"]["base"], result["systems"]["adapter"]
    assert result["split"] == "train" and result["records"] == 4
    assert base["tokens"] == adapter["tokens"] > 0
    assert adapter["loss"] < base["loss"] - 0.5
    assert adapter["chrf++"] > base["chrf++"] + 10
    assert adapter["token_f1"] > base["token_f1"]
    assert set(result["signatures"]) == {"chrf++", "bleu"}


def test_references_and_categories_come_from_the_records(train_eval) -> None:
    result, _ = train_eval
    answers = {q: (a, c) for q, a, c in RECORDS}
    for s in result["samples"]:
        # The reference is decoded from the trained tokens: it must be the record's output.
        assert answers[s["question"]] == (s["reference"], s["category"])
    cats = result["categories"]
    assert sum(c["n"] for c in cats.values()) == 4
    assert set(cats) <= {c for _, _, c in RECORDS}
    for entry in cats.values():
        assert {"loss", "chrf++", "exact_match"} <= set(entry["adapter"])


def test_base_numbers_are_the_plain_base_model(train_eval, run_dir: Path) -> None:
    """Scale 0 on the QLoRA model equals loading the base without an adapter."""
    from kazft.data.pipeline import prepare
    from kazft.eval.metrics import NLL
    from kazft.eval.perplexity import sequence_nll, total_nll
    from kazft.generate.engine import load_base
    from kazft.recipe import load_recipe

    result, _ = train_eval
    rec = load_recipe(run_dir / "recipe.yaml")
    model, tokenizer, _, _ = load_base(rec.model.base, rec.model.revision, rec.model.quantize)
    train = prepare(rec, tokenizer).train
    plain: NLL = total_nll(sequence_nll(model, [(ex.tokens, ex.mask) for ex in train]))
    assert result["systems"]["base"]["loss"] == plain.loss
    assert result["systems"]["base"]["tokens"] == plain.tokens


def test_retention_reports_a_change(train_eval, probes: dict[str, str]) -> None:
    result, _ = train_eval
    ret = result["retention"]
    assert [p["lang"] for p in ret["probes"]] == ["kk", "ru"]
    assert [p["source"] for p in ret["probes"]] == [probes["kk"], probes["ru"]]
    for p in ret["probes"]:
        assert p["tokens"] > 0 and p["base_ppl"] > 1 and p["adapter_ppl"] > 1
        assert abs(p["change"]) > 1e-4
        assert p["warn"] == (p["change"] > ret["threshold"])
    assert ret["threshold"] == 0.10


def test_report_files_with_plots(train_eval, run_dir: Path) -> None:
    result, files = train_eval
    assert files["json"] == run_dir / "eval.json"
    assert json.loads((run_dir / "eval.json").read_text(encoding="utf-8")) == json.loads(
        json.dumps(result)
    )
    for name in ("loss.png", "categories.png", "retention.png"):
        assert (run_dir / "eval" / name).read_bytes().startswith(PNG_MAGIC)
    md = (run_dir / "eval" / "report.md").read_text(encoding="utf-8")
    assert "## Side-by-side answers" in md and RECORDS[0][1] in md or RECORDS[2][1] in md
    assert "tok:intl" in md
    assert "<img" in (run_dir / "eval" / "report.html").read_text(encoding="utf-8")


def test_checkpoints_agree_with_the_trainer(train_eval, run_dir: Path) -> None:
    result, _ = evaluate_checkpoints(Options(target=str(run_dir), metric="loss"))
    ck = result["checkpoints"]
    assert [s["name"] for s in ck["steps"]] == [
        f"step-{s:06d}" for s in range(SAVE_EVERY, ITERS + 1, SAVE_EVERY)
    ]
    assert ck["split"] == "valid" and ck["records"] == 2
    for s in ck["steps"]:
        # The trainer validated these exact records at each save.
        state = json.loads((run_dir / "checkpoints" / s["name"] / "state.json").read_text())
        assert s["loss"] == pytest.approx(state["val_loss"], rel=1e-4)
    assert ck["best"] == min(ck["steps"], key=lambda s: s["loss"])["name"]
    # The main evaluation is kept beside the checkpoint table.
    saved = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))
    assert saved["systems"] == json.loads(json.dumps(train_eval[0]["systems"]))
    assert "Checkpoints" in (run_dir / "eval" / "report.md").read_text(encoding="utf-8")


def test_no_test_split_falls_back_to_valid(run_dir: Path, tmp_path: Path) -> None:
    result, files = evaluate(
        Options(target=str(run_dir), generate=False, retention=False, out=str(tmp_path / "out"))
    )
    assert result["split"] == "valid" and "no test split" in result["split_note"]
    assert "chrf++" not in result["systems"]["adapter"] and result["samples"] == []
    assert files["json"] == tmp_path / "out" / "eval.json"


def test_cli(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / ("an-output-folder-whose-name-runs-past-eighty-columns-" * 2)
    code = main(
        [
            "eval",
            str(run_dir),
            "--split",
            "train",
            "--limit",
            "1",
            "--no-generate",
            "--no-retention",
            "--out",
            str(deep),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Base vs base + adapter" in out and "perplexity" in out
    # stdout is not a terminal: lines are whole, not wrapped at 80 columns
    assert f"wrote {deep / 'eval.json'}, {deep / 'eval' / 'report.md'} and " in out
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_checkpoints_need_a_run(run_dir: Path) -> None:
    ckpt = run_dir / "checkpoints" / f"step-{SAVE_EVERY:06d}"
    with pytest.raises(KazftError, match="no checkpoints"):
        evaluate_checkpoints(Options(target=str(ckpt)))


def test_stale_sections_are_dropped(run_dir: Path, tmp_path: Path) -> None:
    """eval.json never mixes numbers of different adapters (a retrained run)."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "eval.json").unlink(missing_ok=True)
    shutil.rmtree(run / "eval", ignore_errors=True)
    quick = Options(target=str(run), split="train", limit=1, generate=False, retention=False)
    evaluate(quick)
    evaluate_checkpoints(Options(target=str(run)))
    result, _ = evaluate(quick)
    assert "checkpoints" in result and "systems" in result  # same adapters: both kept

    first, last = (f"step-{s:06d}" for s in (SAVE_EVERY, ITERS))
    weights = "adapters.safetensors"
    shutil.copy(run / "checkpoints" / first / weights, run / "checkpoints" / last / weights)
    result, _ = evaluate(quick)
    assert "checkpoints" not in result  # a checkpoint changed since the table was made

    evaluate_checkpoints(Options(target=str(run)))
    shutil.copy(run / "checkpoints" / first / weights, run / "adapters" / weights)
    result, _ = evaluate_checkpoints(Options(target=str(run)))
    assert "systems" not in result and result["adapter"]["sha256"]  # main evaluation dropped


def test_a_new_split_holding_training_records_is_refused(run_dir: Path, tmp_path: Path) -> None:
    """Following a data.split change evaluates on records the adapter trained on: refused."""
    opts = Options(
        target=str(run_dir),
        overrides=["data.split.valid=0.67"],
        split="valid",
        generate=False,
        retention=False,
        out=str(tmp_path),
    )
    with pytest.raises(
        KazftError, match=r"holds \d+ of its 4 records that the adapter was trained"
    ):
        evaluate(opts)
    assert not (tmp_path / "eval.json").exists()


def test_argument_and_data_errors_come_before_the_model_loads(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def refuse(*a, **k):
        raise AssertionError("the base model was loaded before the arguments were checked")

    monkeypatch.setattr("kazft.generate.engine.load_base", refuse)
    missing = tmp_path / "gone.jsonl"
    cases = [
        (["--set", f"data.train={missing}"], f"{missing}: file not found"),
        (["--set", f"data.test={tmp_path}"], f"{tmp_path}: is a folder"),
        (["--limit", "0"], "--limit 0: must be at least 1"),
        (["--max-tokens", "0"], "--max-tokens 0: must be at least 1"),
        (["--probe", f"kk={missing}"], f"--probe kk={missing}: not found"),
    ]
    for extra, message in cases:
        assert main(["eval", str(run_dir), "--out", str(tmp_path), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("kazft: error: ") and message in err and "Traceback" not in err


def test_the_retention_probe_has_a_progress_bar(
    run_dir: Path, probes: dict[str, str], tmp_path: Path
) -> None:
    from contextlib import contextmanager

    seen: dict[str, list[int]] = {}
    totals: dict[str, int] = {}

    class Recording:
        def log(self, message: str) -> None:
            pass

        @contextmanager
        def task(self, label: str, total: int):
            totals[label], seen[label] = total, []
            yield seen[label].append

    opts = Options(
        target=str(run_dir),
        split="train",
        limit=1,
        generate=False,
        probes=probes,
        out=str(tmp_path),
    )
    result, _ = evaluate(opts, Recording())
    windows = sum(p["documents"] for p in result["retention"]["probes"])  # short documents
    assert totals["retention probe"] == 2 * windows  # adapter and base, every window
    assert seen["retention probe"] == list(range(1, 2 * windows + 1))
