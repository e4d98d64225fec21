"""What ``kazft eval`` evaluates: the adapter, its recipe, the base with LoRA, the split.

The base is loaded exactly as training loaded it (the recipe's quantised cache
entry, through ``kazft.generate.engine.load_base``) and the adapter is attached
as mlx-lm ``LoRALinear`` layers (``mlx_lm.tuner.utils.load_adapters``), not
merged, so the same model in memory answers as the base when the LoRA scale is
0 (see :mod:`kazft.eval.perplexity`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.artifacts.adapters import AdapterRef, check_fits_model, resolve_adapter
from kazft.errors import KazftError, ModelError
from kazft.recipe import Recipe, load_recipe

SPLITS = ("test", "valid", "train")
EMPTY_SPLIT = (
    "the {split} split is empty: the run trained on every record, so no held-out records "
    "are left. Evaluate on records it never saw with --set data.test=FILE (a JSONL file of "
    "new records), or measure the fit to the training records with --split train (a new "
    "data.split would put training records in the held-out split)"
)


@dataclass
class Loaded:
    ref: AdapterRef
    recipe: Recipe
    engine: Any  # kazft.generate.engine.Engine over the LoRA model
    adapter_config: dict[str, Any]

    @property
    def model(self) -> Any:
        return self.engine.model

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer


def find_recipe(ref: AdapterRef, recipe: str | None, overrides: list[str] | None) -> Recipe:
    """--recipe if given, else the resolved recipe saved with the run/checkpoint/bundle."""
    if recipe is not None:
        return load_recipe(recipe, overrides)
    if ref.recipe_yaml is None:
        raise KazftError(
            f"{ref.source or ref.folder}: no recipe.yaml saved with this adapter, so the data, "
            "prompt settings and base model are unknown; name the recipe with --recipe NAME"
        )
    return load_recipe(ref.recipe_yaml, overrides)


def attach_adapter(model: Any, ref: AdapterRef) -> dict[str, Any]:
    """Wrap the adapter's layers in mlx-lm LoRALinear and load its weights; returns its config.

    The same steps as mlx-lm's ``load_adapters``, from kazft's resolved reference
    (so a PEFT export works too) and after the one shape check."""
    import mlx.core as mx
    from mlx_lm.tuner.utils import linear_to_lora_layers

    spec = ref.lora()
    weights = ref.load_weights()
    check_fits_model(weights, model, ref.weights, ref.base_model)
    linear_to_lora_layers(model, spec.num_layers, spec.mlx_parameters())
    model.load_weights(list(weights.items()), strict=False)
    mx.eval(model.parameters())
    model.eval()
    return ref.config()


def load_adapter_weights(model: Any, folder: Path, expected: dict[str, Any]) -> None:
    """Replace the LoRA weights with another checkpoint's (same layers, same rank)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    ref = resolve_adapter(folder)
    cfg = ref.config()
    for key in ("num_layers", "lora_parameters"):
        if cfg.get(key) != expected.get(key):
            raise ModelError(
                f"{folder}: {key} {json.dumps(cfg.get(key))} differs from the first checkpoint's "
                f"{json.dumps(expected.get(key))}; evaluate it separately (kazft eval {folder})"
            )
    weights = ref.load_weights()
    params: Any = tree_flatten(model.parameters())  # [(name, array)]
    have = {n for n, _ in params if n.endswith((".lora_a", ".lora_b"))}
    if set(weights) != have:
        raise ModelError(
            f"{ref.weights}: its tensors do not match the first checkpoint's; "
            "evaluate it separately"
        )
    check_fits_model(weights, model, ref.weights, ref.base_model)
    model.load_weights(list(weights.items()), strict=False)
    mx.eval(model.parameters())


def load_for_eval(
    target: str,
    recipe: str | None = None,
    overrides: list[str] | None = None,
    log: Callable[[str], None] = print,
    split: str | None = None,
) -> Loaded:
    """Resolve ``target``, load its recipe's base once and attach the adapter.

    ``split``: the split to be evaluated; a recipe that holds none out is refused here,
    before the base loads."""
    from kazft.data.sources import check_sources
    from kazft.generate.engine import Engine, check_adapter_base, load_base
    from kazft.generate.source import ModelSource

    ref = resolve_adapter(target)
    rec = find_recipe(ref, recipe, overrides)
    check_sources(rec.data)  # before the (possibly downloaded and quantised) base loads
    d = rec.data
    if split in ("test", "valid") and not (d.test or d.valid or d.split.test or d.split.valid):
        raise KazftError(EMPTY_SPLIT.format(split="valid" if split == "test" else split))
    source = ModelSource(
        base=rec.model.base,
        revision=rec.model.revision,
        quantize=rec.model.quantize,
        adapter=ref,
        data=rec.data,
        base_explicit=recipe is not None,
        seed=rec.train.seed,
    )
    model, tokenizer, folder, config = load_base(source.base, source.revision, source.quantize)
    # An explicit --recipe must name the base the adapter was trained on; a bundle's
    # recorded fingerprint is checked against the loaded base.
    check_adapter_base(ref, source, folder, allow_other_base=False)
    cfg = attach_adapter(model, ref)
    q = rec.model.quantize
    log(
        f"model: {rec.model.base}"
        + (f" ({q.bits}-bit, group size {q.group_size})" if q else "")
        + f" + adapter {ref.folder} ({ref.kind})"
    )
    return Loaded(ref, rec, Engine(model, tokenizer, folder, config, source=source), cfg)


def choose_split(prepared: Any, split: str, limit: int | None) -> tuple[str, list[Any], str | None]:
    """(split used, its examples (the first ``limit``), a note when it is not the one asked).

    A recipe without a test split (the legal recipe: split.test 0.0) falls back to
    the validation split, with a note: it was never trained on, but training
    reported its loss and keeps the best checkpoint by it, so the adapter's
    numbers on it can be slightly optimistic."""
    if split not in SPLITS:
        raise KazftError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    used, note = split, None
    if split == "test" and not prepared.test:
        used = "valid"
        note = (
            "the recipe has no test split (data.test is unset and data.split.test is 0), so "
            "the validation split is used; set data.split.test (e.g. 0.1) or data.test for "
            "an untouched test set"
        )
    examples = list(getattr(prepared, used))
    if not examples:
        raise KazftError(EMPTY_SPLIT.format(split=used))
    if limit is not None:
        check_limit(limit)
        examples = examples[:limit]
    return used, examples, note


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise KazftError(f"--limit {limit}: must be at least 1")


def check_no_leak(
    loaded: Loaded, split: str, examples: list[Any], recipe: str | None, overrides: list[str]
) -> None:
    """Refuse a held-out split that holds records the adapter was trained on.

    The run's saved recipe fixes its split (seeded, exact). ``--set data.split...``
    or another ``--recipe`` can draw a different one, which may take records from
    the run's training set; those are found by their rendered tokens."""
    from kazft.data.pipeline import prepare

    if split == "train" or (recipe is None and not overrides) or loaded.ref.recipe_yaml is None:
        return
    trained = {
        tuple(ex.tokens)
        for ex in prepare(load_recipe(loaded.ref.recipe_yaml), loaded.tokenizer).train
    }
    leaked = [ex for ex in examples if tuple(ex.tokens) in trained]
    if leaked:
        shown = ", ".join(ex.source for ex in leaked[:3]) + (", ..." if len(leaked) > 3 else "")
        raise KazftError(
            f"the {split} split asked for holds {len(leaked)} of its {len(examples)} records "
            f"that the adapter was trained on ({shown}): the run's own split "
            f"({loaded.ref.recipe_yaml}) put them in training, and scores on them would "
            "measure memory, not held-out quality. Evaluate with the run's recipe as saved "
            "(no --set data.split/--recipe), on new records (--set data.test=FILE), or on "
            "--split train to measure fit, labelled as such"
        )
