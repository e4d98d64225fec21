"""Everyday paths as a new user takes them: early checks, clean errors, readable logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kazft.cli import main

RECORDS = [
    {"instruction": "Салық деген не?", "input": "", "output": "Міндетті төлем."},
    {"instruction": "Неке жасы қандай?", "input": "", "output": "Он сегіз жас."},
    {"instruction": "Еңбек шарты қалай жасалады?", "input": "", "output": "Жазбаша."},
]


def write_recipe(tmp: Path, iters: int = 2, **extra: str) -> Path:
    data = tmp / "qa.jsonl"
    data.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8"
    )
    recipe = tmp / "r.yaml"
    lines = [
        'model: {base: "kazft:tiny", quantize: null}',
        f"data: {{train: {extra.get('train', data)}, split: {{valid: 0.0}}, max_seq_length: 64}}",
        "lora: {rank: 4, alpha: 8, dropout: 0.0, layers: 2}",
        f"train: {{iters: {iters}, save_every: {iters}, eval_every: {iters}, report_every: 1}}",
        f"output: {{dir: {tmp / 'run'}}}",
    ]
    recipe.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return recipe


def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr("kazft.train.setup.load_model", refuse)


def test_train_reports_a_missing_data_file_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    _no_model(monkeypatch)
    recipe = write_recipe(tmp_path, train=str(tmp_path / "nope.jsonl"))
    assert main(["train", str(recipe), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kazft: error: {tmp_path / 'nope.jsonl'}: file not found")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    """A finished 2-step run of kazft:tiny."""
    import shutil

    from kazft.model.load import embedded_folder

    out = embedded_folder("kazft:tiny")
    if not (out / "config.json").exists():
        shutil.copytree(tiny_dir, out)
    tmp = tmp_path_factory.mktemp("finished")
    recipe = write_recipe(tmp)
    assert main(["train", str(recipe), "--no-progress"]) == 0
    return recipe


def test_resume_latest_on_a_finished_run_says_so_without_loading(
    finished: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    capsys.readouterr()
    _no_model(monkeypatch)
    assert main(["train", str(finished), "--resume", "latest", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "already at step 2 of 2" in out and "raise train.iters" in out
    assert "checkpoint: None" not in out


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["train", "r.yaml", "--bogus"], "usage: kazft train "),
        (["data", "check", "r.yaml", "--bogus"], "usage: kazft data check "),
        (["generate", "--bogus", "q"], "usage: kazft generate "),
        (["--bogus"], "usage: kazft "),
    ],
)
def test_a_stray_option_shows_the_usage_of_its_command(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture
):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith(usage), err
    assert err.rstrip().endswith("error: unrecognized arguments: --bogus")
