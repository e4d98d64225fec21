"""Bundles: export -> verify -> generate on another folder, the manifest, the card,
and every refusal through the command line (message naming the file, exit 2)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile

import mlx.core as mx
import mlx_lm
import numpy as np
import pytest
import yaml

from kazft.artifacts.manifest import fingerprint_base, sha256_file, verify_bundle
from kazft.cli import main
from kazft.export.bundle import export_bundle
from kazft.export.source import load_source
from kazft.model.load import resolve_model

from .export_helpers import build_run, logits

LEGAL_SYSTEM = "Сіз Қазақстан Республикасының құқығы бойынша кеңес беретін көмекшісіз."


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory):
    """A QLoRA run on kazft:tiny (a base named by id, not by path), legal system prompt."""
    root = tmp_path_factory.mktemp("hubrun")
    return build_run(
        root / "run",
        resolve_model("kazft:tiny"),
        "gemma3",
        ref="kazft:tiny",
        quantize={"bits": 4, "group_size": 64},
        seed=5,
        system_prompt=LEGAL_SYSTEM,
    )


@pytest.fixture(scope="module")
def archive(hub_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("ship") / "legal-adapter.tar.gz"
    assert main(["export", str(hub_run.dir), "--format", "bundle", "--out", str(out)]) == 0
    return out


def _cli(args, capsys) -> tuple[int, str, str]:
    rc = main(args)
    got = capsys.readouterr()
    return rc, got.out, got.err


def test_round_trip_export_verify_generate_in_another_folder(
    hub_run, archive, tmp_path, monkeypatch, capsys
):
    elsewhere = tmp_path / "colleague"
    elsewhere.mkdir()
    shutil.copy(archive, elsewhere / "adapter.tar.gz")
    monkeypatch.chdir(elsewhere)
    rc, out, _ = _cli(["verify", "adapter.tar.gz", "--base", "kazft:tiny"], capsys)
    assert rc == 0
    assert "OK adapter.tar.gz: 7 files match manifest.json" in out
    assert "OK base model kazft:tiny: config, tokenizer and chat template match" in out

    # the verified mlx adapter is the trained one: equal logits on the 4-bit base
    info = verify_bundle("adapter.tar.gz")
    from kazft.export.fused import load_as_trained

    src = load_source(hub_run.dir)
    q4, _ = load_as_trained(src, with_adapter=False)
    from mlx_lm.tuner.utils import load_adapters

    load_adapters(q4, str(info.mlx))
    assert np.array_equal(logits(q4), logits(hub_run.model))
    capsys.readouterr()  # load_as_trained may have announced the quantised cache

    # kazft generate reads the bundle (no --model: the bundle names kazft:tiny) and
    # answers exactly as with the run folder it came from
    ask = ["--max-tokens", "6", "--quiet", "Еңбек шарты деген не?"]
    rc, from_bundle, err = _cli(["generate", "--adapter", "adapter.tar.gz", *ask], capsys)
    assert rc == 0, err
    rc, from_run, err = _cli(["generate", "--adapter", str(hub_run.dir), *ask], capsys)
    assert rc == 0, err
    assert from_bundle == from_run and from_bundle.strip()


def test_archive_layout_is_one_folder_and_byte_reproducible(hub_run, archive, tmp_path):
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert all(m.isfile() or m.isdir() for m in tar.getmembers())
        assert {m.mtime for m in tar.getmembers()} == {0}
    inside = [
        "README.md",
        "manifest.json",
        "metrics.jsonl",
        "mlx",
        "mlx/adapter_config.json",
        "mlx/adapters.safetensors",
        "peft",
        "peft/adapter_config.json",
        "peft/adapter_model.safetensors",
        "recipe.yaml",
    ]
    assert names == ["legal-adapter"] + [f"legal-adapter/{n}" for n in inside]
    again = tmp_path / "legal-adapter.tar.gz"
    export_bundle(load_source(hub_run.dir), again)
    assert sha256_file(again) == sha256_file(archive)


def test_manifest_records_what_the_issue_asks(hub_run, archive):
    info = verify_bundle(archive)
    m = info.manifest
    w = mx.load(str(hub_run.dir / "adapters" / "adapters.safetensors"))
    assert m["format"] == "kazft-bundle" and m["kazft_version"] == "0.1.0"
    assert m["base_model"]["id"] == "kazft:tiny" and m["base_model"]["revision"] is None
    assert m["base_model"]["fingerprint"] == fingerprint_base(resolve_model("kazft:tiny"))
    assert m["quantization"] == {"bits": 4, "group_size": 64}
    assert m["lora"] == {
        "rank": 8,
        "alpha": 16.0,
        "scale": 2.0,
        "dropout": 0.0,
        "num_layers": 4,
        "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"],
    }
    assert m["adapter"]["parameters"] == sum(a.size for a in w.values()) == 26624
    assert m["adapter"]["bytes"] == sum(a.nbytes for a in w.values())
    assert m["adapter"]["file_bytes"] == (info.mlx / "adapters.safetensors").stat().st_size
    assert m["adapter"]["step"] == 2
    for rel, entry in m["files"].items():
        p = info.folder / rel
        assert entry == {
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "bytes": p.stat().st_size,
        }
    assert len(m["files"]) == 7
    assert json.loads((info.mlx / "adapter_config.json").read_text())["base_model"] == "kazft:tiny"


def test_model_card(hub_run, archive, runs, tmp_path):
    card = (verify_bundle(archive).folder / "README.md").read_text()
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["base_model"] == "kazft:tiny" and meta["library_name"] == "peft"
    assert meta["language"] == ["kk"] and meta["license"] == "other"
    assert {"kazft", "qlora", "legal"} <= set(meta["tags"])
    for heading in (
        "## Training data",
        "## Recipe",
        "## Metrics",
        "## Intended use",
        "## Limitations",
    ):
        assert heading in body
    assert "Not legal advice" in body and "Заңгерлік кеңес емес" in body
    assert "- train: `train.jsonl`: 10 records at export" in body
    assert "4-bit, group size 64" in body and "26,624 adapter parameters" in body
    assert "training loss 7.4200 at step 2" in body
    assert "validation loss 7.5000 at step 2" in body

    plain = tmp_path / "plain"
    export_bundle(load_source(runs["gemma3"].dir), plain, license_id="apache-2.0")
    card = (plain / "README.md").read_text()
    _, front, body = card.split("---\n", 2)
    assert "license: apache-2.0" in front and "legal" not in yaml.safe_load(front)["tags"]
    assert "Not legal advice" not in body  # (the AI-law section's default reason may say legal)


@pytest.fixture
def unpacked(archive, tmp_path):
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "legal-adapter"


def test_cli_refuses_a_tampered_file(unpacked, capsys):
    p = unpacked / "peft" / "adapter_model.safetensors"
    data = bytearray(p.read_bytes())
    data[-1] ^= 1
    p.write_bytes(bytes(data))
    rc, _, err = _cli(["verify", str(unpacked)], capsys)
    assert rc == 2
    assert "peft/adapter_model.safetensors: modified since export" in err
    assert "Traceback" not in err


def test_cli_refuses_a_missing_file(unpacked, capsys):
    (unpacked / "mlx" / "adapter_config.json").unlink()
    rc, _, err = _cli(["verify", str(unpacked)], capsys)
    assert rc == 2 and "mlx/adapter_config.json: missing (listed in manifest.json)" in err


def test_cli_refuses_a_pickle_weight_file(unpacked, capsys):
    (unpacked / "peft" / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")
    rc, _, err = _cli(["verify", str(unpacked)], capsys)
    assert rc == 2 and "peft/adapter_model.bin: pickle-based weight file" in err


def test_cli_refuses_the_wrong_base(archive, tiny_dirs, capsys):
    rc, _, err = _cli(["verify", str(archive), "--base", str(tiny_dirs["gemma3_text"])], capsys)
    assert rc == 2
    assert "wrong base model" in err and "config.json differs" in err and "'kazft:tiny'" in err


def test_generate_refuses_a_tampered_bundle(unpacked, capsys):
    (unpacked / "mlx" / "adapters.safetensors").write_bytes(b"not the adapter")
    rc, _, err = _cli(["generate", "--adapter", str(unpacked), "--max-tokens", "2", "hi"], capsys)
    assert rc == 2 and "mlx/adapters.safetensors: modified since export" in err


def test_cli_refuses_an_archive_that_escapes(tmp_path, unpacked, capsys):
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(unpacked, arcname="legal-adapter")
        info = tarfile.TarInfo("../../escaped.txt")
        tar.addfile(info)
    rc, _, err = _cli(["verify", str(bad)], capsys)
    assert rc == 2 and "../../escaped.txt: contains '..'" in err
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_bundle_folder_output_and_force(runs, tmp_path, capsys):
    out = tmp_path / "b"
    rc, text, _ = _cli(
        ["export", str(runs["gemma3_text"].dir), "--format", "bundle", "--out", str(out)], capsys
    )
    assert rc == 0 and "wrote bundle to" in text
    assert verify_bundle(out, base_folder=runs["gemma3_text"].base).files_checked == 7
    model, _ = mlx_lm.load(str(runs["gemma3_text"].base), adapter_path=str(out / "mlx"))
    assert np.array_equal(logits(model), logits(runs["gemma3_text"].model))
    rc, _, err = _cli(
        ["export", str(runs["gemma3_text"].dir), "--format", "bundle", "--out", str(out)], capsys
    )
    assert rc == 2 and "--force" in err


def test_card_usage_for_kazft_tiny_is_runnable(archive):
    card = (verify_bundle(archive).folder / "README.md").read_text()
    assert "mlx_lm.generate --model kazft:tiny" not in card  # mlx-lm cannot resolve it
    assert "kazft model tiny tiny-gemma3" in card
    assert "mlx_lm.generate --model tiny-gemma3 --adapter-path BUNDLE/mlx" in card
    assert 'kazft generate --adapter BUNDLE "Сұрақ..."' in card
    assert "kazft verify BUNDLE --base kazft:tiny" in card


def test_verify_ignores_exactly_what_finder_writes(unpacked, capsys):
    """macOS writes .DS_Store and ._NAME (AppleDouble) files when a folder is opened."""
    (unpacked / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (unpacked / "mlx" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (unpacked / "mlx" / "._adapters.safetensors").write_bytes(b"\x00\x05\x16\x07")
    (unpacked / "._README.md").write_bytes(b"\x00\x05\x16\x07")
    assert verify_bundle(unpacked).files_checked == 7
    rc, out, _ = _cli(["verify", str(unpacked)], capsys)
    assert rc == 0
    # Nothing else: look-alikes, a .DS_Store folder and other systems' files are refused.
    for name in ("DS_Store", ".DS_Store.bak", "Thumbs.db", "_adapters.safetensors"):
        (unpacked / "mlx" / name).write_bytes(b"x")
        rc, _, err = _cli(["verify", str(unpacked)], capsys)
        assert rc == 2 and f"mlx/{name}: not listed in manifest.json" in err, err
        (unpacked / "mlx" / name).unlink()
    (unpacked / "peft" / ".DS_Store").mkdir()
    (unpacked / "peft" / ".DS_Store" / "x").write_bytes(b"x")
    rc, _, err = _cli(["verify", str(unpacked)], capsys)
    assert rc == 2 and "peft/.DS_Store/x: not listed" in err


def test_a_refused_archive_leaves_nothing_in_the_bundle_cache(unpacked, tmp_path, capsys):
    import os
    from pathlib import Path

    cache = Path(os.environ["KAZFT_HOME"]) / "bundles"
    before = set(cache.iterdir()) if cache.is_dir() else set()
    p = unpacked / "peft" / "adapter_model.safetensors"
    data = bytearray(p.read_bytes())
    data[-1] ^= 1
    p.write_bytes(bytes(data))
    bad = tmp_path / "tampered.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(unpacked, arcname="legal-adapter")
    rc, _, err = _cli(["verify", str(bad)], capsys)
    assert rc == 2 and "modified since export" in err
    after = set(cache.iterdir()) if cache.is_dir() else set()
    assert after == before, after - before
