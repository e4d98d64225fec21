"""Ctrl-C on a real `python -m kazft train` process: finish the step, save, exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kazft.train.signals import StopFlag

from .train_helpers import make_recipe


@pytest.mark.slow
def test_sigint_saves_a_resumable_checkpoint_and_prints_the_command(qa_file, tmp_path):
    out = tmp_path / "run"
    recipe = make_recipe(
        qa_file, out, train={"iters": 200, "save_every": 100, "eval_every": 100, "grad_accum": 1}
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "kazft", "train", recipe.source, "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    for line in proc.stdout:  # wait until training is under way
        if line.startswith("step      2/"):
            break
        assert time.monotonic() < deadline, "training did not start"
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err
    ckpts = out / "checkpoints"
    latest = ckpts / (ckpts / "latest").read_text().strip()
    state = json.loads((latest / "state.json").read_text())
    assert 2 <= state["step"] < 200
    assert f"stopped by SIGINT at step {state['step']} of 200" in err
    assert f"kazft train {recipe.source} --resume latest" in err
    assert (out / "adapters" / "adapters.safetensors").is_file()
    # ... and the printed command continues it.
    resumed = subprocess.run(
        [*cmd, "--resume", "latest", "--set", "train.iters=" + str(state["step"] + 1)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {latest}" in resumed.stdout


def test_stop_flag_restores_the_previous_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag() as stop:
        assert signal.getsignal(signal.SIGTERM) != before
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop and stop.reason == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before


def test_second_ctrl_c_quits_at_once():
    with StopFlag() as stop, pytest.raises(KeyboardInterrupt):
        stop.request("SIGINT")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
