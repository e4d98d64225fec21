"""Which base model, adapter, quantisation and prompt settings to answer with.

From a recipe (``--recipe legal``: its base, its quantisation, the newest
adapter in its output folder, its system prompt and prompt template) or from
explicit ``--model`` / ``--adapter`` (a run folder or checkpoint brings its own
resolved recipe; an adapter's ``base_model`` names its base). Nothing is
loaded here; :func:`kazft.generate.engine.load_engine` does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kazft.artifacts.adapters import AdapterRef, resolve_adapter
from kazft.errors import ModelError
from kazft.recipe import DataSection, Quantize, Recipe, load_recipe


@dataclass(frozen=True)
class ModelSource:
    base: str  # a hub id, a local folder or kazft:tiny
    revision: str | None
    quantize: Quantize | None  # quantise the base at load (as training did); None: as stored
    adapter: AdapterRef | None
    data: DataSection  # system prompt + prompt template the questions are asked with
    base_explicit: bool  # the base was named (--model, --recipe): check it against the adapter's
    seed: int  # the recipe's seed (default for sampling)


def default_data() -> DataSection:
    """No recipe known: no system prompt, the default instruction/input template."""
    return DataSection.model_validate({"train": ""})


def resolve_source(
    recipe: str | None = None,
    overrides: list[str] | None = None,
    model: str | None = None,
    revision: str | None = None,
    adapter: str | None = None,
    no_adapter: bool = False,
    quantize: str | None = None,
    system: str | None = None,
) -> ModelSource:
    """Combine --recipe/--model/--adapter/... into one ModelSource.

    ``quantize``: None (the recipe's or the run's setting, else the weights as
    stored), "none", or "BITS" / "BITS:GROUP" (e.g. "4", "4:64").
    ``system``: None keeps the recipe's system prompt; "" drops it; text replaces it.
    """
    if adapter is not None and no_adapter:
        raise ModelError("--adapter and --no-adapter contradict each other; give one")
    rec: Recipe | None = load_recipe(recipe, overrides) if recipe else None
    if overrides and rec is None:
        raise ModelError("--set changes a recipe; give --recipe NAME with it")

    ref: AdapterRef | None = None
    if adapter is not None:
        ref = resolve_adapter(adapter)
    elif rec is not None and not no_adapter:
        out = Path(rec.output.dir)
        if not out.exists():
            raise ModelError(
                f"recipe {recipe}: no trained adapter in {out} yet; train it "
                f"(kazft train --recipe {recipe}), or add --no-adapter to ask the base model"
            )
        ref = resolve_adapter(out)

    # The prompt settings: the explicit recipe, else the one saved with the adapter.
    prompt_rec = rec
    if prompt_rec is None and ref is not None and ref.recipe_yaml is not None:
        prompt_rec = load_recipe(ref.recipe_yaml)

    if model is not None:
        base = model
    elif rec is not None:
        base = rec.model.base
    elif ref is not None and ref.base_model:
        base = ref.base_model
    elif prompt_rec is not None:
        base = prompt_rec.model.base
    elif ref is not None:
        raise ModelError(f"{ref.config_path}: no base_model recorded; name the base with --model")
    else:
        raise ModelError(
            "nothing to load: give --recipe NAME, or --model BASE and/or --adapter PATH"
        )
    if revision is None and prompt_rec is not None and base == prompt_rec.model.base:
        revision = prompt_rec.model.revision
    elif revision is None and ref is not None and base == ref.base_model:
        rev = ref.config().get("revision")
        revision = rev if isinstance(rev, str) and rev else None

    data = prompt_rec.data if prompt_rec is not None else default_data()
    if system is not None:
        data = data.model_copy(update={"system_prompt": system or None})

    # As trained: a QLoRA adapter is applied to the same packed weights it was trained on.
    if quantize is not None:
        q = parse_quantize(quantize)
    elif prompt_rec is not None:
        q = prompt_rec.model.quantize
    elif ref is not None:
        q = _adapter_quantize(ref)
    else:
        q = None
    seed = prompt_rec.train.seed if prompt_rec is not None else 0
    return ModelSource(
        base=base,
        revision=revision,
        quantize=q,
        adapter=ref,
        data=data,
        base_explicit=model is not None or rec is not None,
        seed=seed,
    )


def _adapter_quantize(ref: AdapterRef) -> Quantize | None:
    """adapter_config.json's "quantize" (written by kazft's trainer), if any."""
    q = ref.config().get("quantize")
    if not isinstance(q, dict):
        return None
    try:
        # Only bits and group size matter here (an mlx-lm config may add "mode": "affine").
        return Quantize.model_validate({k: q[k] for k in ("bits", "group_size") if k in q})
    except ValueError:
        raise ModelError(
            f'{ref.config_path}: "quantize" is not {{bits, group_size}} ({q!r}); '
            "fix it or pass --quantize none|BITS[:GROUP]"
        ) from None


def parse_quantize(text: str) -> Quantize | None:
    if text.strip().lower() in ("none", "off", "no"):
        return None
    bits, _, group = text.partition(":")
    try:
        return Quantize(bits=int(bits), group_size=int(group) if group else 64)  # type: ignore[arg-type]
    except ValueError as err:
        raise ModelError(
            f"--quantize {text!r}: expected none, BITS or BITS:GROUP with bits in "
            f"2,3,4,5,6,8 and group 32, 64 or 128 ({err.__class__.__name__})"
        ) from None


def same_base(trained_on: str, loaded: str, folder: Path) -> bool:
    """Whether ``loaded`` (resolved to ``folder``) names the base ``trained_on``."""
    if trained_on == loaded:
        return True
    a = Path(trained_on).expanduser()
    if a.exists() and a.resolve() == folder.resolve():
        return True
    # A hub id and its snapshot in the Hugging Face cache.
    return "models--" + trained_on.replace("/", "--") in str(folder.resolve())
