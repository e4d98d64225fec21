"""Two local ranks over MLX's ring backend on 127.0.0.1, on the tiny Gemma 3.

* 2 ranks equal 1 rank with the same (global) accumulation: losses each step
  and the final adapter within 1e-5 (dropout on: masks are keyed by the global
  micro-batch index, so they match too);
* Ctrl-C on rank 1 stops both ranks at the same step after one checkpoint
  (world_size 2 recorded), and 1 rank resumes it to the uninterrupted result;
  a 1-rank checkpoint resumes with 2 ranks (started by plain mlx.launch) to the
  same result;
* a rank killed with kill -9, or frozen (SIGSTOP), makes the survivor exit
  non-zero within the step timeout, naming the rank and the last checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mlx.core as mx
import pytest

from kazft.errors import Interrupted
from kazft.train.callbacks import read_metrics
from kazft.train.launch import launch_command
from kazft.train.trainer import train
from kazft.train.watchdog import EXIT_PEER_LOST

from .test_trainer import QUIET, StopAt
from .train_helpers import make_recipe

ITERS = 6
OVER = {"train": {"iters": ITERS, "grad_accum": 4, "save_every": 2, "eval_every": 3}}


class Run:
    """``kazft train ...`` as a user starts it, its output collected line by line."""

    def __init__(self, *args: str, launcher: list[str] | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.proc = subprocess.Popen(
            [*(launcher or []), sys.executable, "-m", "kazft", "train", *args, "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.pids: dict[int, int] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.match(r"rank (\d+) of \d+ \(pid (\d+)", line)
            if m:
                self.pids[int(m.group(1))] = int(m.group(2))

    def wait_for(self, pattern: str, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(re.search(pattern, line) for line in self.lines):
                return
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.text}")

    def wait(self, timeout: float = 180) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def kill_all(self) -> None:
        for pid in [*self.pids.values(), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for r in started:  # never leave a rank behind, whatever failed
        r.kill_all()


def _recipe(qa: Path, out: Path, **over: object):
    return make_recipe(qa, out, **{**OVER, **over})


def _losses(run_dir: Path) -> dict[int, float]:
    return {
        r["step"]: r["loss"]
        for r in read_metrics(run_dir / "metrics.jsonl")
        if r["kind"] == "train"
    }


def _adapter(run_dir: Path) -> dict[str, mx.array]:
    return mx.load(str(run_dir / "adapters" / "adapters.safetensors"))


def _assert_same_run(a: Path, b: Path) -> None:
    la, lb = _losses(a), _losses(b)
    assert sorted(la) == sorted(lb) == list(range(1, ITERS + 1))
    assert max(abs(la[s] - lb[s]) for s in la) < 1e-5, (la, lb)
    wa, wb = _adapter(a), _adapter(b)
    assert wa.keys() == wb.keys()
    assert max(mx.abs(wa[k] - wb[k]).max().item() for k in wa) < 1e-5


@pytest.fixture(scope="module")
def one_rank(qa_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: one process, 4 micro-batches per step, dropout 0.1."""
    out = tmp_path_factory.mktemp("one") / "run"
    train(_recipe(qa_file, out), **QUIET)
    return out


def test_two_ranks_equal_one_rank_with_the_same_global_batch(
    one_rank: Path, qa_file: Path, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "two"
    recipe = _recipe(qa_file, out)
    runs.append(Run(str(recipe.source), "-n", "2"))
    code = runs[-1].wait()
    assert code == 0, runs[-1].text
    assert "rank 0 of 2" in runs[-1].text and "rank 1 of 2" in runs[-1].text
    _assert_same_run(one_rank, out)
    state = json.loads((out / "checkpoints" / "step-000006" / "state.json").read_text())
    assert state["world_size"] == 2 and state["data_position"] == ITERS * 4


def test_ctrl_c_on_rank_1_stops_both_and_one_rank_resumes(
    one_rank: Path, qa_file: Path, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "stop"
    recipe = _recipe(qa_file, out)
    runs.append(run := Run(str(recipe.source), "-n", "2"))
    run.wait_for(r"step +1/6")
    os.kill(run.pids[1], signal.SIGINT)  # the rank that does not report
    assert run.wait() == 130, run.text
    stopped = re.findall(r"stopped by SIGINT on rank 1 at step (\d+) of 6", run.text)
    assert len(stopped) == 2 and stopped[0] == stopped[1], run.text  # both ranks, one step
    k = int(stopped[0])
    assert 1 <= k < ITERS
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("step-*"))
    assert ckpts[-1] == f"step-{k:06d}"
    assert (
        json.loads((out / "checkpoints" / ckpts[-1] / "state.json").read_text())["world_size"] == 2
    )
    train(recipe, resume="latest", **QUIET)  # 2 -> 1
    _assert_same_run(one_rank, out)


def test_one_rank_checkpoint_resumes_with_two_ranks(
    one_rank: Path, qa_file: Path, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "grow"
    recipe = _recipe(qa_file, out)
    with pytest.raises(Interrupted):
        train(recipe, callbacks=[StopAt(3)], **QUIET)
    # Plain mlx.launch, as users may start it (it no longer puts python in front).
    cmd = launch_command([], processes=2, hostfile=None, port=None)
    runs.append(
        run := Run(str(recipe.source), "--resume", "latest", launcher=cmd[: cmd.index("--") + 1])
    )
    assert run.wait() == 0, run.text
    assert "resuming from" in run.text and "step 3" in run.text
    _assert_same_run(one_rank, out)


@pytest.mark.parametrize("how", ["kill", "freeze"])
def test_a_lost_rank_ends_the_survivor_with_the_missing_rank_named(
    how: str, qa_file: Path, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / how
    recipe = _recipe(qa_file, out, train={"iters": 40, "grad_accum": 4, "save_every": 2})
    # A frozen rank is only noticed by the timeout; a killed one at once (its socket closes).
    timeout = 20.0 if how == "freeze" else 60.0
    runs.append(run := Run(str(recipe.source), "-n", "2", "--step-timeout", f"{timeout:g}"))
    run.wait_for(r"saved checkpoint .*step-000002")
    t0 = time.monotonic()
    try:
        os.kill(run.pids[1], signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    except ProcessLookupError:
        raise AssertionError(f"rank 1 ended early:\n{run.text}") from None
    if how == "freeze":
        run.wait_for(r"rank 0: error", timeout=timeout + 30)
        os.kill(run.pids[1], signal.SIGKILL)  # the launcher waits for it
    code = run.wait(timeout + 60)
    took = time.monotonic() - t0
    assert code != 0, run.text
    text = run.text
    assert re.search(r"kazft: rank 0: error: .*rank 1 is", text), text
    if how == "kill":
        assert "rank 1 is gone" in text
    else:
        assert f"no answer from the other ranks within {timeout:g} s" in text
        assert "rank 1 is running but not responding" in text
    assert took < timeout + 20
    assert re.search(r"The last checkpoint is \S+step-0000\d\d \(step \d+, on rank 0\)", text)
    assert f"exited with code {EXIT_PEER_LOST}" in text  # mlx.launch's line for rank 0
