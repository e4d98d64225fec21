"""Bundle: one folder or .tar.gz a user can send to a colleague.

    NAME/
      manifest.json     SHA-256 of every other file, base model fingerprint, settings
      README.md         model card
      recipe.yaml       the resolved recipe (when the run has one)
      metrics.jsonl     the run's metrics (when it has them)
      eval.json         the run's `kazft eval` result (when it describes this adapter)
      mlx/              adapters.safetensors + adapter_config.json (mlx-lm, kazft)
      peft/             adapter_model.safetensors + adapter_config.json (transformers + PEFT)

The archive holds NAME/ as its only top-level entry and is byte-reproducible
(sorted entries, zeroed times and owners), so one export gives one SHA-256.
The written bundle is verified before it is moved into place.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
from pathlib import Path
from typing import Any

from kazft.artifacts.manifest import base_identity, fingerprint_base, write_manifest
from kazft.artifacts.names import ADAPTER_WEIGHTS, ARCHIVE_SUFFIXES
from kazft.export.card import EVAL_JSON, find_eval, render_card
from kazft.export.mlx import write_mlx
from kazft.export.output import atomic_file, atomic_folder, check_target
from kazft.export.peft import write_peft
from kazft.export.source import Source


def manifest_fields(src: Source) -> dict[str, Any]:
    from kazft import __version__

    base = src.base_folder()
    dtypes = sorted({str(w.dtype).removeprefix("mlx.core.") for w in src.weights.values()})
    tensor_bytes = sum(int(w.nbytes) for w in src.weights.values())
    return {
        "kazft_version": __version__,
        "base_model": {
            **base_identity(src.base, base, src.revision),
            "fingerprint": fingerprint_base(base),
        },
        "quantization": src.quantize,
        "lora": {
            "rank": src.lora.rank,
            "alpha": src.lora.scale * src.lora.rank,
            "scale": src.lora.scale,
            "dropout": src.lora.dropout,
            "num_layers": src.lora.num_layers,
            "keys": list(src.lora.keys or ()),
        },
        "adapter": {
            "parameters": src.parameter_count(),
            "bytes": tensor_bytes,
            "dtype": ",".join(dtypes),
            "step": src.step,
            "tensors": len(src.weights),
        },
        "formats": {"mlx": "mlx/", "peft": "peft/"},
    }


def write_gguf_folder(src: Source, folder: Path) -> str:
    """gguf/: the merged model as f16 GGUF with its Ollama Modelfile; returns the file name."""
    from kazft.export.gguf import export_gguf
    from kazft.export.modelfile import modelfile

    folder.mkdir()
    name = "model-f16.gguf"
    export_gguf(src, folder / name, "f16")
    system = src.recipe.data.system_prompt if src.recipe is not None else None
    context = src.recipe.data.max_seq_length if src.recipe is not None else 4096
    (folder / "Modelfile").write_text(modelfile(name, system, max(context, 2048)), encoding="utf-8")
    return name


def write_bundle(
    src: Source,
    folder: Path,
    license_id: str | None = None,
    legal: bool | None = None,
    with_gguf: bool = False,
) -> dict[str, Any]:
    from kazft.artifacts.manifest import verify_bundle

    write_mlx(src, folder / "mlx")
    write_peft(src, folder / "peft")
    gguf_file = write_gguf_folder(src, folder / "gguf") if with_gguf else None
    if src.recipe_path is not None:
        shutil.copyfile(src.recipe_path, folder / "recipe.yaml")
    if src.metrics_path is not None:
        shutil.copyfile(src.metrics_path, folder / "metrics.jsonl")
    evaluation, _ = find_eval(src)
    if evaluation is not None and src.run_dir is not None:  # the card's numbers, in full
        shutil.copyfile(src.run_dir / EVAL_JSON, folder / EVAL_JSON)
    fields = manifest_fields(src)
    fields["adapter"]["file_bytes"] = (folder / "mlx" / ADAPTER_WEIGHTS).stat().st_size
    if gguf_file is not None:
        fields["formats"]["gguf"] = f"gguf/{gguf_file}"
    (folder / "README.md").write_text(
        render_card(src, fields, license_id=license_id, legal=legal), encoding="utf-8"
    )
    manifest = write_manifest(folder, fields)
    verify_bundle(folder, base_folder=src.base_folder())  # what we ship must pass its own check
    return manifest


def _tarinfo(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(folder: Path, archive: Path, top: str) -> None:
    def write(tmp: Path) -> None:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.add(folder, arcname=top, recursive=False, filter=_tarinfo)
            for p in sorted(folder.rglob("*")):
                tar.add(
                    p,
                    arcname=f"{top}/{p.relative_to(folder).as_posix()}",
                    recursive=False,
                    filter=_tarinfo,
                )

    atomic_file(archive, write)


def archive_stem(path: Path) -> str | None:
    for suffix in ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name.removesuffix(suffix)
    return None


def export_bundle(
    src: Source,
    out: Path,
    force: bool = False,
    license_id: str | None = None,
    legal: bool | None = None,
    with_gguf: bool = False,
) -> dict[str, Any]:
    """Write a bundle folder, or a .tar.gz when ``out`` ends with .tar.gz/.tgz/.tar."""
    stem = archive_stem(out)
    if stem is None:
        with atomic_folder(out, force) as tmp:
            return write_bundle(src, tmp, license_id, legal, with_gguf)
    if out.suffix == ".tar":
        from kazft.errors import KazftError

        raise KazftError(f"{out}: write the bundle as .tar.gz (or a folder)")
    check_target(out, force)
    scratch = out.parent / f".{out.name}.build"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        manifest = write_bundle(src, _mk(scratch / stem), license_id, legal, with_gguf)
        write_archive(scratch / stem, out, stem)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return manifest


def _mk(p: Path) -> Path:
    p.mkdir(parents=True)
    return p
