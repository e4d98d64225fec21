"""No tracebacks on user errors: every command, given a missing path, a folder where a
file is expected, or a file where a folder is expected, says so in one paragraph and
exits non-zero (``kazft train recipes``, ``kazft model tiny README.md``, ...)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kazft.cli import main

MISSING, FOLDER, FILE = "{missing}", "{folder}", "{file}"

# (command line with one path placeholder). Every command that takes a path is here.
CASES: list[list[str]] = [
    ["train", MISSING],
    ["train", FOLDER],
    ["train", FILE],
    ["data", "check", MISSING],
    ["data", "check", FOLDER],
    ["data", "detect", MISSING],
    ["data", "detect", FOLDER],
    ["data", "normalize", MISSING],
    ["data", "normalize", FOLDER],
    ["data", "translit", MISSING],
    ["data", "translit", FOLDER],
    ["data", "extract", MISSING],
    # extract reads the documents inside a folder (a feature); its folder error is the output.
    ["data", "extract", FILE, "-o", FOLDER],
    ["data", "dedup", MISSING],
    ["data", "dedup", FOLDER],
    ["data", "convert", MISSING],
    ["data", "stats", MISSING],
    ["data", "stats", FOLDER],
    ["model", "tiny", FILE],
    ["generate", "--recipe", MISSING, "q"],
    ["generate", "--recipe", FOLDER, "q"],
    ["generate", "--model", MISSING, "q"],
    ["generate", "--model", FILE, "q"],
    ["generate", "--model", "kazft:tiny", "--adapter", MISSING, "q"],
    ["generate", "--model", "kazft:tiny", "--adapter", FILE, "q"],
    ["generate", "--model", "kazft:tiny", "--no-adapter", "-i", MISSING, "-o", "{out}"],
    ["generate", "--model", "kazft:tiny", "--no-adapter", "-i", FOLDER, "-o", "{out}"],
    ["generate", "--model", "kazft:tiny", "--no-adapter", "-i", "{questions}", "-o", FOLDER],
    ["chat", "--recipe", MISSING],
    ["chat", "--model", MISSING],
    ["chat", "--model", "kazft:tiny", "--adapter", FILE],
    ["eval", MISSING],
    ["eval", FILE],
    ["eval", "{run}", "--probe", f"kk={MISSING}"],
    ["eval", "{run}", "--probe", f"kk={FOLDER}"],
    ["eval", "{run}", "--out", FILE, "--limit", "1", "--no-generate", "--no-retention"],
    ["export", MISSING, "--format", "mlx", "--out", "{out}"],
    ["export", FILE, "--format", "mlx", "--out", "{out}"],
    ["export", "{run}", "--format", "mlx", "--out", FILE],
    ["export", "{run}", "--format", "bundle", "--out", FILE],
    ["export", "{run}", "--format", "mlx", "--base", MISSING, "--out", "{out}"],
    ["serve", "--recipe", MISSING],
    ["serve", "--recipe", FOLDER],
    ["serve", "--adapter", f"a={MISSING}"],
    ["serve", "--adapter", f"a={FILE}"],
    ["serve", "--base", MISSING, "--adapter", "a={run}"],
    ["verify", MISSING],
    ["verify", FILE],
    ["verify", FOLDER],
]


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> dict[str, str]:
    from tests.generate.gen_helpers import write_run

    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "folder").mkdir()
    (tmp / "folder" / "x.txt").write_text("not a recipe\n")
    (tmp / "file.txt").write_text("a plain file\n")
    (tmp / "q.jsonl").write_text('{"instruction": "Салық деген не?"}\n')
    run = write_run(tiny_dir, tmp / "run")
    return {
        "missing": str(tmp / "no-such-thing"),
        "folder": str(tmp / "folder"),
        "file": str(tmp / "file.txt"),
        "out": str(tmp / "out-new"),
        "questions": str(tmp / "q.jsonl"),
        "run": str(run),
    }


@pytest.fixture(scope="module")
def embedded_tiny(tiny_dir: Path) -> None:
    """kazft:tiny in the session's KAZFT_HOME (same seed as tiny_dir: same bytes)."""
    import shutil

    from kazft.model.load import embedded_folder

    out = embedded_folder("kazft:tiny")
    if not (out / "config.json").exists():
        shutil.copytree(tiny_dir, out)


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_a_wrong_path_is_one_paragraph_without_traceback(
    argv: list[str], places: dict[str, str], embedded_tiny: None, capsys: pytest.CaptureFixture
):
    args = [a.format(**places) for a in argv]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    assert code not in (0, None), (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    text = err.strip()
    assert text and "\n\n" not in text and len(text.splitlines()) <= 8, err
    assert text.splitlines()[-1].startswith(("kazft: error:", "kazft ")) or "error:" in text, err


def test_train_a_folder_and_model_tiny_a_file_as_subprocesses(tmp_path: Path):
    """The two reports from the issue, run as a user runs them."""
    import os

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "legal.yaml").write_text("model: {base: x}\n")
    (tmp_path / "README.md").write_text("# hi\n")
    for argv, says in (
        (
            ["train", "recipes"],
            "kazft: error: recipes is a folder, not a recipe (it holds legal.yaml)",
        ),
        (["model", "tiny", "README.md"], "kazft: error: README.md is a file; give a folder"),
    ):
        got = subprocess.run(
            [sys.executable, "-m", "kazft", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert got.returncode == 2 and "Traceback" not in got.stderr, got.stderr
        assert says in got.stderr, got.stderr
