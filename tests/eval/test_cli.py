"""`kazft eval` option checks (no model is loaded before these fail)."""

from __future__ import annotations

import pytest

from kazft.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--checkpoints", "--split", "test"], "--split has no effect here"),
        (["--checkpoints", "--probe", "ru=x.txt"], "--probe has no effect here"),
        (["--checkpoints", "--max-tokens", "9"], "--max-tokens has no effect here"),
        (["--metric", "chrf++"], "--metric has no effect here"),
        (["--no-generate", "--max-tokens", "9"], "--max-tokens has no effect here"),
        (["--no-generate", "--samples", "2"], "--samples has no effect here"),
        (["--probe", "ru=a.txt", "--probe", "ru=b.txt"], "each language may be given once"),
        (["--retention-warn", "0"], "must be > 0"),
    ],
)
def test_refused_combinations(argv: list[str], message: str, capsys) -> None:
    assert main(["eval", "some/run", *argv]) == 2
    assert message in capsys.readouterr().err


def test_probe_needs_lang_and_file(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "some/run", "--probe", "ru"])
    assert exc.value.code == 2
    assert "expected LANG=FILE" in capsys.readouterr().err


def test_listed_in_help(capsys) -> None:
    assert main([]) == 0
    assert "eval" in capsys.readouterr().out
