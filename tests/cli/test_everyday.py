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


def write_recipe(tmp: Path, iters: int = 2, report_every: int = 1, **extra: str) -> Path:
    data = tmp / "qa.jsonl"
    data.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8"
    )
    recipe = tmp / "r.yaml"
    lines = [
        'model: {base: "kazft:tiny", quantize: null}',
        f"data: {{train: {extra.get('train', data)}, split: {{valid: 0.0}}, max_seq_length: 64}}",
        "lora: {rank: 4, alpha: 8, dropout: 0.0, layers: 2}",
        f"train: {{iters: {iters}, save_every: {iters}, eval_every: {iters}, "
        f"report_every: {report_every}}}",
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


def test_a_piped_training_log_ends_clean_and_done_repeats_the_step_line(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    """stdout is not a terminal: no progress bar leftovers, no wrapping at 80 columns."""
    import re

    deep = tmp_path / ("a-folder-name-long-enough-to-pass-eighty-columns-" * 2) / "run"
    recipe = write_recipe(tmp_path, iters=4, report_every=2)
    text = recipe.read_text().replace(f"dir: {tmp_path / 'run'}", f"dir: {deep}")
    recipe.write_text(text)
    capsys.readouterr()
    assert main(["train", str(recipe)]) == 0  # with the progress bar asked for
    out = capsys.readouterr().out
    assert "ETA" not in out and "━" not in out, out  # no bar, not even its last frame
    lines = out.splitlines()
    assert f"saved checkpoint {deep}/checkpoints/step-000004" in out  # one line, whole
    step_loss = re.findall(r"^step +4/4  loss (\d+\.\d{4})", out, re.M)
    done = [ln for ln in lines if ln.startswith("done: ")]
    assert step_loss and done == [f"done: step 4; training loss {step_loss[0]} (mean of steps 3-4)"]
    assert lines[-1].startswith("adapter: ")


def test_doctor_is_not_cut_at_80_columns_in_a_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    home = tmp_path / ("kazft-home-with-a-name-that-is-long-enough-" * 3)
    monkeypatch.setenv("KAZFT_HOME", str(home))
    assert main(["doctor"]) == 0
    assert str(home) in capsys.readouterr().out


def test_transformers_pytorch_notice_does_not_reach_users(tmp_path: Path):
    """Without PyTorch (a Mac user's venv) transformers advises installing it; kazft
    never uses transformers' models, so the advice is noise."""
    import os
    import subprocess
    import sys

    hide_torch = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, p=None: None if n.split('.')[0] == 'torch' "
        "else real(n, p)\n"
        "from kazft.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("TRANSFORMERS_NO_ADVISORY_WARNINGS", None)
    got = subprocess.run(
        [sys.executable, "-c", hide_torch, "model", "tiny", str(tmp_path / "m")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert got.returncode == 0, got.stderr
    assert "PyTorch was not found" not in got.stderr, got.stderr


def test_eval_of_a_run_without_held_out_records_says_so_before_loading(
    finished: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    def refuse(*a, **k):
        raise AssertionError("the base model was loaded first")

    monkeypatch.setattr("kazft.generate.engine.load_base", refuse)
    capsys.readouterr()
    assert main(["eval", str(finished.parent / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kazft: error: the valid split is empty: the run trained on every")
    assert "--set data.test=FILE" in err and "data.split.valid=0.1" not in err
