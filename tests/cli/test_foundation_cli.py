"""`kazft doctor`, `kazft model tiny`, `python -m kazft`: run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlx.core as mx

from kazft.cli import main


def test_doctor_reports_what_mlx_and_the_os_say(capsys):
    assert main(["doctor", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mlx"] == mx.__version__
    expected = "gpu" if mx.default_device().type == mx.DeviceType.gpu else "cpu"
    assert info["default_device"] == expected
    assert info["metal_available"] == mx.metal.is_available()
    if sys.platform.startswith("linux"):
        with open("/proc/meminfo") as f:
            meminfo = dict(line.split(":", 1) for line in f)
        total = int(meminfo["MemTotal"].split()[0]) * 1024
        assert info["memory_total_bytes"] == total
    assert info["kazft_cache"] == os.environ["KAZFT_HOME"]


def test_doctor_table(capsys):
    assert main(["doctor"]) == 0
    assert "default device" in capsys.readouterr().out


def test_model_tiny_cli(tmp_path, capsys):
    assert (
        main(["model", "tiny", str(tmp_path / "m"), "--layout", "gemma3_text", "--seed", "3"]) == 0
    )
    assert "gemma3_text" in capsys.readouterr().out
    assert (tmp_path / "m" / "model.safetensors.index.json").exists()
    # a second build into the same folder is a user error: message, no traceback, exit 2
    assert main(["model", "tiny", str(tmp_path / "m")]) == 2
    assert "--force" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "kazft", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("kazft ")
