"""Bundle manifests: what a shipped adapter is, proved by hashes.

A bundle (``kazft export --format bundle``) is a folder, or a ``.tar.gz`` of
one, holding ``manifest.json`` and the files it lists. The manifest records
the SHA-256 of every file and a fingerprint of the base model (its config,
tokenizer and chat template), so a receiver can check that nothing was changed
in transit and that the adapter is applied to the model it was trained on.

Everything here refuses rather than repairs: a file that does not match, is
missing, is not listed, is pickle-based, is a link, or would land outside the
bundle when unpacked is named with the reason, and nothing is loaded.

The hashes catch corruption and edits of the listed files; they are not a
signature (whoever can edit the files can also rewrite manifest.json), so ship
the manifest's own SHA-256 over a separate channel when that matters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.artifacts.archive import refusal, unpack_cached, unsafe_name
from kazft.artifacts.atomic import atomic_write
from kazft.artifacts.hashing import canonical_json, sha256_file
from kazft.artifacts.names import ARCHIVE_SUFFIXES, MANIFEST, PICKLE_SUFFIXES
from kazft.errors import ModelError

FORMAT = "kazft-bundle"
FORMAT_VERSION = 1
# Keys that change when the same weights are re-saved by another tool or in
# another dtype, or quantised (the manifest records quantisation separately).
VOLATILE_CONFIG_KEYS = frozenset(
    {
        "transformers_version",
        "torch_dtype",
        "dtype",
        "_name_or_path",
        "quantization",
        "quantization_config",
        "use_cache",
    }
)
_SNAPSHOT = re.compile(
    r"models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<rev>[0-9a-f]{7,64})$"
)


# --- fingerprints -------------------------------------------------------------------


def _drop_volatile(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_volatile(v) for k, v in obj.items() if k not in VOLATILE_CONFIG_KEYS}
    if isinstance(obj, list):
        return [_drop_volatile(v) for v in obj]
    return obj


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: not readable JSON ({err})") from None


def chat_template_text(folder: Path) -> str | None:
    """The chat template as transformers finds it: the .jinja file first."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json"):
        p = folder / name
        if p.is_file():
            tmpl = _read_json(p).get("chat_template")
            if isinstance(tmpl, str):
                return tmpl
            if isinstance(tmpl, list):  # named templates: [{"name": ..., "template": ...}]
                return canonical_json(tmpl).decode()
    return None


def fingerprint_base(model_folder: Path | str) -> dict[str, Any]:
    """SHA-256 fingerprints of what an adapter depends on in its base model.

    config: canonical JSON of config.json (sorted keys, no whitespace) minus the
    volatile keys above, so a bf16 copy, a quantised copy and the original of one
    model agree. tokenizer: canonical JSON of tokenizer.json, else the bytes of
    tokenizer.model. chat_template: the exact template text.
    """
    folder = Path(model_folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelError(f"{folder}: not a model folder (no config.json)")
    cfg = _read_json(cfg_path)
    tok_file, tok_sha = None, None
    if (folder / "tokenizer.json").is_file():
        tok_file = "tokenizer.json"
        tok_sha = hashlib.sha256(canonical_json(_read_json(folder / tok_file))).hexdigest()
    elif (folder / "tokenizer.model").is_file():
        tok_file, tok_sha = "tokenizer.model", sha256_file(folder / "tokenizer.model")
    tmpl = chat_template_text(folder)
    return {
        "model_type": cfg.get("model_type"),
        "config_sha256": hashlib.sha256(canonical_json(_drop_volatile(cfg))).hexdigest(),
        "tokenizer_file": tok_file,
        "tokenizer_sha256": tok_sha,
        "chat_template_sha256": hashlib.sha256(tmpl.encode()).hexdigest() if tmpl else None,
    }


def base_identity(ref: str, folder: Path, revision: str | None = None) -> dict[str, Any]:
    """{"id", "revision"} for the manifest, never a local path.

    A Hugging Face cache snapshot (.../models--org--name/snapshots/<hash>) gives
    the id and the commit hash; a hub id or kazft:tiny is kept as given; any
    other local folder is recorded by its folder name only.
    """
    m = _SNAPSHOT.search(Path(folder).resolve().as_posix())
    if m:
        return {"id": f"{m['org']}/{m['name']}", "revision": m["rev"]}
    local = Path(ref).expanduser()
    if ref.startswith(("kazft:",)) or (not local.exists() and ref.count("/") == 1):
        return {"id": ref, "revision": revision}
    return {"id": Path(folder).resolve().name, "revision": revision, "local_folder": True}


# --- writing ------------------------------------------------------------------------


def file_entries(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative posix path: {"sha256", "bytes"}} for every file under ``folder``."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            raise ModelError(f"{p}: bundles hold only plain files (this is a link or special file)")
        if p.is_file() and rel != MANIFEST:
            out[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    return out


def write_manifest(folder: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Hash every file in ``folder`` and write manifest.json with ``fields``."""
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **fields,
        "files": file_entries(folder),
    }
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


# --- verifying ----------------------------------------------------------------------


@dataclass
class BundleInfo:
    folder: Path  # the verified bundle folder (holds manifest.json)
    manifest: dict[str, Any]
    files_checked: int
    base_checked: bool
    mlx: Path = field(init=False)  # mlx-lm adapter folder
    peft: Path = field(init=False)  # PEFT adapter folder

    def __post_init__(self) -> None:
        self.mlx = self.folder / "mlx"
        self.peft = self.folder / "peft"

    @property
    def base_model(self) -> str | None:
        return (self.manifest.get("base_model") or {}).get("id")

    @property
    def revision(self) -> str | None:
        return (self.manifest.get("base_model") or {}).get("revision")


def find_bundle_root(folder: Path) -> Path:
    if (folder / MANIFEST).is_file():
        return folder
    subs = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if (
        len(subs) == 1
        and subs[0].is_dir()
        and not subs[0].is_symlink()
        and (subs[0] / MANIFEST).is_file()
    ):
        return subs[0]
    raise ModelError(
        f"{folder}: not a kazft bundle (no {MANIFEST}). A bundle is what "
        "`kazft export RUN --format bundle` writes; for a plain adapter folder use it directly."
    )


def finder_litter(p: Path) -> bool:
    """A file macOS writes when a folder is opened in Finder: .DS_Store, or an AppleDouble
    ``._NAME`` (extended attributes, on volumes without them). Only plain files count."""
    return (p.name == ".DS_Store" or p.name.startswith("._")) and p.is_file() and not p.is_symlink()


def _check_files(root: Path, listed: dict[str, Any]) -> list[str]:
    problems = []
    on_disk: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel not in listed and finder_litter(p):
                continue  # ignored: never part of a bundle, harmless to every reader
            if p.is_symlink():
                problems.append(f"{rel}: is a link; bundles hold only plain files")
            elif name in filenames and not p.is_file():
                problems.append(f"{rel}: is a special file, not a plain file")
            elif p.is_file():
                on_disk.add(rel)
    for rel in sorted(on_disk - {MANIFEST}):
        if rel.lower().endswith(PICKLE_SUFFIXES):
            problems.append(
                f"{rel}: pickle-based weight file; kazft reads weights only from SafeTensors"
            )
        elif rel not in listed:
            problems.append(f"{rel}: not listed in {MANIFEST} (added after export)")
    for rel, entry in sorted(listed.items()):
        why = unsafe_name(rel)
        if why:
            problems.append(f"{rel}: listed path {why}")
            continue
        if rel.lower().endswith(PICKLE_SUFFIXES):
            if rel not in on_disk:
                problems.append(
                    f"{rel}: pickle-based weight file; kazft reads weights only from SafeTensors"
                )
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            problems.append(f"{rel}: {MANIFEST} entry has no sha256")
            continue
        p = root / rel
        if rel not in on_disk:
            problems.append(f"{rel}: missing (listed in {MANIFEST})")
            continue
        digest = sha256_file(p)
        if digest != entry["sha256"]:
            problems.append(
                f"{rel}: modified since export (SHA-256 {digest[:12]}..., manifest says "
                f"{entry['sha256'][:12]}...)"
            )
    return problems


def compare_fingerprint(recorded: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs between the bundle's base fingerprint and a model folder's."""
    labels = {
        "config_sha256": "config.json",
        "tokenizer_sha256": "tokenizer",
        "chat_template_sha256": "chat template",
    }
    out = []
    for key, label in labels.items():
        if recorded.get(key) != actual.get(key):
            out.append(
                f"{label} differs (bundle {str(recorded.get(key))[:12]}, "
                f"model {str(actual.get(key))[:12]})"
            )
    return out


def check_base(bundle: Path, manifest: dict[str, Any], base_folder: Path) -> None:
    """Raise ModelError unless ``base_folder`` has the fingerprint recorded at export."""
    base = manifest.get("base_model") or {}
    diffs = compare_fingerprint(base.get("fingerprint") or {}, fingerprint_base(base_folder))
    if diffs:
        rev = f" revision {base['revision']}" if base.get("revision") else ""
        raise ModelError(
            f"{bundle}: wrong base model: {base_folder} is not the model this adapter was "
            f"trained on ({'; '.join(diffs)}). The bundle was exported for "
            f"{base.get('id')!r}{rev}; load it onto that model."
        )


def verify_bundle(path: Path | str, base_folder: Path | str | None = None) -> BundleInfo:
    """Check a bundle folder or archive; raise ModelError naming each bad file.

    An archive is unpacked safely into kazft's cache first. With ``base_folder``
    the base model's fingerprint must match the one recorded at export.
    """
    path = where = Path(path)  # messages name what the user gave, not the cache
    if not path.exists():
        raise ModelError(f"{path}: no such bundle")
    if not path.is_file():
        return _verify_folder(path, where, base_folder)
    if not path.name.endswith(ARCHIVE_SUFFIXES):
        raise ModelError(f"{path}: not a bundle (expected a folder or a .tar.gz)")
    unpacked = unpack_cached(path)
    try:
        return _verify_folder(unpacked, where, base_folder)
    except ModelError:
        shutil.rmtree(unpacked, ignore_errors=True)  # a refused archive leaves nothing cached
        raise


def _verify_folder(path: Path, where: Path, base_folder: Path | str | None) -> BundleInfo:
    root = find_bundle_root(path)
    manifest = _read_json(root / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(
            f"{where}: {MANIFEST} is not a kazft bundle manifest (format is not {FORMAT!r})"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{where}: bundle format version {manifest.get('format_version')!r}; "
            f"this kazft reads version {FORMAT_VERSION}. Upgrade kazft or re-export the bundle."
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        raise ModelError(f"{where}: {MANIFEST} lists no files")
    problems = _check_files(root, listed)
    if problems:
        raise ModelError(refusal(where, problems, "Ask the sender for a fresh copy of the bundle."))
    if base_folder is not None:
        check_base(where, manifest, Path(base_folder))
    return BundleInfo(
        folder=root,
        manifest=manifest,
        files_checked=len(listed),
        base_checked=base_folder is not None,
    )
