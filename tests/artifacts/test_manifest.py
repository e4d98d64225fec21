"""Fingerprints, manifests, verification refusals and safe unpacking (no model runs here)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from kazft.artifacts.archive import safe_unpack
from kazft.artifacts.manifest import (
    base_identity,
    fingerprint_base,
    sha256_file,
    verify_bundle,
    write_manifest,
)
from kazft.errors import ModelError

BASE_FIELDS = {"kazft_version": "0.1.0", "base_model": {"id": "x/y", "revision": None}}


def copy_base(src: Path, dst: Path) -> Path:
    """The tiny model's non-weight files (a fingerprint reads nothing else)."""
    dst.mkdir()
    for f in src.iterdir():
        if not f.name.endswith(".safetensors"):
            shutil.copy(f, dst / f.name)
    return dst


def small_bundle(root: Path, base: Path | None = None) -> Path:
    (root / "mlx").mkdir(parents=True)
    (root / "mlx" / "adapters.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (root / "mlx" / "adapter_config.json").write_text('{"num_layers": 2}')
    (root / "README.md").write_text("# card\n")
    fields = dict(BASE_FIELDS)
    if base is not None:
        fields["base_model"] = {
            "id": "x/y",
            "revision": None,
            "fingerprint": fingerprint_base(base),
        }
    write_manifest(root, fields)
    return root


def refusal(path: Path, **kw) -> str:
    with pytest.raises(ModelError) as exc:
        verify_bundle(path, **kw)
    return str(exc.value)


# --- fingerprints -------------------------------------------------------------------


def test_fingerprint_ignores_dtype_and_quantisation_but_not_the_architecture(tiny_dir, tmp_path):
    fp = fingerprint_base(tiny_dir)
    assert fp["model_type"] == "gemma3" and fp["tokenizer_file"] == "tokenizer.json"
    assert all(
        len(fp[k]) == 64 for k in ("config_sha256", "tokenizer_sha256", "chat_template_sha256")
    )

    b = copy_base(tiny_dir, tmp_path / "b")
    cfg = json.loads((b / "config.json").read_text())
    cfg["torch_dtype"] = "bfloat16"
    cfg["text_config"]["dtype"] = "bfloat16"
    cfg["quantization"] = {"bits": 4, "group_size": 64}
    cfg["transformers_version"] = "5.23.0"
    (b / "config.json").write_text(json.dumps(cfg, indent=4, sort_keys=True))  # reformatted too
    assert fingerprint_base(b) == fp

    cfg["text_config"]["rms_norm_eps"] = 1e-5
    (b / "config.json").write_text(json.dumps(cfg))
    assert fingerprint_base(b)["config_sha256"] != fp["config_sha256"]
    assert fingerprint_base(b)["tokenizer_sha256"] == fp["tokenizer_sha256"]


def test_fingerprint_sees_tokenizer_and_chat_template(tiny_dir, tmp_path):
    fp = fingerprint_base(tiny_dir)
    b = copy_base(tiny_dir, tmp_path / "b")
    tok = json.loads((b / "tokenizer.json").read_text())
    (b / "tokenizer.json").write_text(json.dumps(tok, indent=1))  # same content, other layout
    assert fingerprint_base(b) == fp
    tok["added_tokens"][5]["content"] = "<changed>"
    (b / "tokenizer.json").write_text(json.dumps(tok))
    assert fingerprint_base(b)["tokenizer_sha256"] != fp["tokenizer_sha256"]

    c = copy_base(tiny_dir, tmp_path / "c")
    (c / "chat_template.jinja").write_text((c / "chat_template.jinja").read_text() + " ")
    got = fingerprint_base(c)
    assert got["chat_template_sha256"] != fp["chat_template_sha256"]
    assert got["config_sha256"] == fp["config_sha256"]


def test_base_identity_never_records_a_local_path(tmp_path):
    snap = tmp_path / "hub" / "models--google--gemma-3-4b-it" / "snapshots" / ("ab12" * 10)
    snap.mkdir(parents=True)
    assert base_identity("google/gemma-3-4b-it", snap) == {
        "id": "google/gemma-3-4b-it",
        "revision": "ab12" * 10,
    }
    assert base_identity("kazft:tiny", tmp_path) == {"id": "kazft:tiny", "revision": None}
    local = tmp_path / "my-gemma"
    local.mkdir()
    ident = base_identity(str(local), local)
    assert ident == {"id": "my-gemma", "revision": None, "local_folder": True}


# --- verification -------------------------------------------------------------------


def test_a_fresh_bundle_verifies_and_lists_every_file(tmp_path, tiny_dir):
    root = small_bundle(tmp_path / "b", base=tiny_dir)
    info = verify_bundle(root, base_folder=tiny_dir)
    assert info.files_checked == 3 and info.base_checked
    assert set(info.manifest["files"]) == {
        "README.md",
        "mlx/adapters.safetensors",
        "mlx/adapter_config.json",
    }
    assert info.manifest["files"]["README.md"]["sha256"] == sha256_file(root / "README.md")
    assert info.mlx == root / "mlx" and info.base_model == "x/y"


def test_tampered_missing_unlisted_and_pickle_files_are_named(tmp_path):
    root = small_bundle(tmp_path / "b")
    (root / "mlx" / "adapter_config.json").write_text('{"num_layers": 3}')
    msg = refusal(root)
    assert "mlx/adapter_config.json: modified since export" in msg

    root = small_bundle(tmp_path / "c")
    (root / "README.md").unlink()
    assert "README.md: missing (listed in manifest.json)" in refusal(root)

    root = small_bundle(tmp_path / "d")
    (root / "notes.txt").write_text("hi")
    assert "notes.txt: not listed in manifest.json (added after export)" in refusal(root)

    root = small_bundle(tmp_path / "e")
    (root / "mlx" / "adapters.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle
    msg = refusal(root)
    assert "mlx/adapters.bin: pickle-based weight file" in msg and "SafeTensors" in msg


def test_a_pickle_listed_in_the_manifest_is_refused_too(tmp_path):
    root = small_bundle(tmp_path / "b")
    (root / "peft").mkdir()
    (root / "peft" / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")
    write_manifest(root, BASE_FIELDS)  # the sender hashed it: still never loaded
    assert "peft/adapter_model.bin: pickle-based weight file" in refusal(root)


def test_links_and_escaping_manifest_paths_are_refused(tmp_path):
    root = small_bundle(tmp_path / "b")
    (root / "link.md").symlink_to(root / "README.md")
    assert "link.md: is a link" in refusal(root)

    root = small_bundle(tmp_path / "c")
    m = json.loads((root / "manifest.json").read_text())
    m["files"]["../outside.txt"] = {"sha256": "0" * 64, "bytes": 1}
    m["files"]["/etc/passwd"] = {"sha256": "0" * 64, "bytes": 1}
    (root / "manifest.json").write_text(json.dumps(m))
    msg = refusal(root)
    assert "../outside.txt: listed path contains '..'" in msg
    assert "/etc/passwd: listed path is an absolute path" in msg


def test_wrong_base_is_refused_with_what_differs(tmp_path, tiny_dirs):
    root = small_bundle(tmp_path / "b", base=tiny_dirs["gemma3"])
    msg = refusal(root, base_folder=tiny_dirs["gemma3_text"])
    assert "wrong base model" in msg and "config.json differs" in msg and "'x/y'" in msg
    assert "tokenizer differs" not in msg  # same tokenizer in both layouts


def test_not_a_bundle(tmp_path):
    (tmp_path / "x").mkdir()
    assert "no manifest.json" in refusal(tmp_path / "x")
    (tmp_path / "y.zip").write_bytes(b"PK")
    assert "not a bundle" in refusal(tmp_path / "y.zip")


# --- unpacking ----------------------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_file("../evil.txt"), "../evil.txt: contains '..'"),
        (_file("b/../../evil.txt"), "b/../../evil.txt: contains '..'"),
        (_file("/tmp/evil.txt"), "/tmp/evil.txt: is an absolute path"),
        (
            _special("b/link", tarfile.SYMTYPE, "/etc/passwd"),
            "b/link: is a link (to '/etc/passwd')",
        ),
        (_special("b/hard", tarfile.LNKTYPE, "b/manifest.json"), "b/hard: is a link"),
        (_special("b/dev", tarfile.CHRTYPE), "b/dev: is a device, FIFO or other special file"),
        (_special("b/fifo", tarfile.FIFOTYPE), "b/fifo: is a device, FIFO or other special file"),
        (_file("b/manifest.json"), "b/manifest.json: appears twice"),
    ],
)
def test_unsafe_archives_are_refused_before_anything_is_written(tmp_path, member, reason):
    archive = _tar(tmp_path / "bad.tar.gz", [_file("b/manifest.json", b"{}"), member])
    dest = tmp_path / "out" / "b"
    with pytest.raises(ModelError) as exc:
        safe_unpack(archive, dest)
    assert reason in str(exc.value) and "nothing was unpacked" in str(exc.value)
    assert not (tmp_path / "out").exists()  # not even the temporary folder
    assert not (tmp_path / "evil.txt").exists()


def test_an_unsafe_archive_is_refused_by_verify_bundle(tmp_path):
    archive = _tar(tmp_path / "bad.tar.gz", [_file("b/manifest.json", b"{}"), _file("../x")])
    assert "../x: contains '..'" in refusal(archive)


def test_safe_unpack_writes_plain_files(tmp_path):
    archive = _tar(
        tmp_path / "ok.tar.gz", [_file("b/manifest.json", b"{}"), _file("b/mlx/a.json", b"[1]")]
    )
    out = safe_unpack(archive, tmp_path / "u")
    assert (out / "b" / "mlx" / "a.json").read_bytes() == b"[1]"
    assert not list(tmp_path.glob(".u.tmp-*"))  # the temporary folder was renamed
