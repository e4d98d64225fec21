"""Recipes: the YAML file that says what to train, validated strictly.

Every key either takes effect or is an error. Unknown keys fail with the file,
the line, the key path and a did-you-mean; wrong types and out-of-range values
name the key and the allowed range; all problems are reported at once.
``extends:`` inherits from another recipe (deep merge, the child wins) and
``--set a.b=value`` overrides a single key (the value is parsed as YAML).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kazft.errors import KazftError, RecipeError
from kazft.notice import DEFAULT_INTENDED_USE, DEFAULT_RISK_REASON

RECIPES_DIR = Path("recipes")
# LoRA target name -> module path inside a Gemma 3 decoder layer.
TARGET_PATHS = {
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "o_proj": "self_attn.o_proj",
    "gate_proj": "mlp.gate_proj",
    "up_proj": "mlp.up_proj",
    "down_proj": "mlp.down_proj",
}
TARGET_MODULES = tuple(TARGET_PATHS)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Quantize(Strict):
    bits: Literal[2, 3, 4, 5, 6, 8] = 4
    group_size: Literal[32, 64, 128] = 64


class ModelSection(Strict):
    base: str = Field(description="Hugging Face id, local folder, or kazft:tiny (embedded)")
    revision: str | None = None
    # null trains LoRA on the unquantised weights; otherwise QLoRA at these settings.
    quantize: Quantize | None = Quantize()


class SplitSection(Strict):
    valid: float = Field(0.1, ge=0.0, lt=1.0)
    test: float = Field(0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fits(self) -> SplitSection:
        if self.valid + self.test >= 1.0:
            raise ValueError("split.valid + split.test must leave some training data (< 1.0)")
        return self


class DataSection(Strict):
    # A JSONL path (relative to the working directory), a list of them, or a
    # Hugging Face dataset id / `datasets` loader name.
    train: str | list[str]
    valid: str | list[str] | None = None
    test: str | list[str] | None = None
    # Used only when `valid`/`test` files are not given: a seeded split of `train`.
    split: SplitSection = SplitSection()
    format: Literal["auto", "alpaca", "chat", "completion"] = "auto"
    max_seq_length: int = Field(1024, ge=16, le=131072)
    # prompt: cut the prompt side (from the left, keeping the turn markers);
    # drop: leave the record out. The target is never cut.
    truncation: Literal["prompt", "drop"] = "prompt"
    system_prompt: str | None = None
    prompt_template: str = "{instruction}\n\n{input}"
    on_bad_record: Literal["error", "skip"] = "error"
    packing: bool = False

    @model_validator(mode="after")
    def _template(self) -> DataSection:
        if "{instruction}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {instruction}")
        try:
            self.prompt_template.format(instruction="", input="")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"prompt_template may use only {{instruction}} and {{input}} ({err})"
            ) from None
        return self

    @model_validator(mode="after")
    def _takes_effect(self) -> DataSection:
        # A key that would be silently ignored is an error (issue 9).
        no_split = (SplitSection(), SplitSection(valid=0.0, test=0.0))
        if self.valid is not None and self.split not in no_split:
            raise ValueError(
                "split has no effect when data.valid names validation files (train is used "
                "whole); remove data.split, or if it is inherited set data.split: "
                "{valid: 0, test: 0}"
            )
        if self.test is not None and self.split.test != 0.0:
            raise ValueError(
                "split.test has no effect when data.test names test files; set data.split.test: 0"
            )
        return self


class LoraSection(Strict):
    rank: int = Field(64, ge=1, le=1024)
    # PEFT convention: the update is scaled by alpha / rank.
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    layers: int = Field(16, ge=1, description="adapt the last N decoder layers")
    targets: list[Literal[TARGET_MODULES]] = ["q_proj", "k_proj", "v_proj", "o_proj"]  # type: ignore[valid-type]

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


class TrainSection(Strict):
    iters: int = Field(1000, ge=1, description="optimizer steps")
    batch_size: int = Field(1, ge=1)
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    learning_rate: float = Field(1e-4, gt=0, le=1.0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float | None = Field(1.0, gt=0)
    grad_checkpoint: Literal["auto", "on", "off"] = "auto"
    # Positions whose logits are computed at once by the chunked cross-entropy
    # (kazft.train.chunked_ce); "auto" sizes it from the available memory.
    loss_chunk: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    # Cache the hidden state entering the first LoRA layer on disk in the first
    # epoch and start later epochs' forward there (kazft.train.frozen_cache);
    # auto: on when the run covers more than one epoch and fits frozen_cache_gb.
    frozen_cache: Literal["auto", "on", "off"] = "auto"
    frozen_cache_gb: float = Field(20.0, gt=0, description="disk limit of the frozen-layer cache")
    save_every: int = Field(200, ge=1)
    keep_checkpoints: int = Field(3, ge=1)
    eval_every: int = Field(100, ge=1)
    val_batches: int = Field(25, ge=1)
    report_every: int = Field(10, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _betas(self) -> TrainSection:
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError("betas must each be in [0, 1)")
        return self


class EvalSection(Strict):
    # Retention probes: language code -> UTF-8 text file, one document per line.
    # They add to (or, for kk/ru, replace) the general Kazakh and Russian probes kazft ships.
    probes: dict[str, str] = {}
    # Warn when a probe's perplexity rises by more than this fraction (0.10 = +10 %).
    retention_warn: float = Field(0.10, gt=0)
    max_tokens: int = Field(256, ge=1, description="longest generated answer")


class OutputSection(Strict):
    dir: str


class CardSection(Strict):
    """What the model card (and the server's model list) says under Kazakhstan's AI law.

    The risk class is the user's own self-assessment (kazft.notice explains the classes).
    """

    risk_class: Literal["low", "medium", "high"] = "medium"
    risk_reason: str = DEFAULT_RISK_REASON
    intended_use: str = DEFAULT_INTENDED_USE
    # Who checks answers before they are relied on (the law's human oversight).
    reviewer: str = "a qualified lawyer of the team"
    description: str | None = Field(None, description="one line shown in model lists")


class Recipe(Strict):
    model: ModelSection
    data: DataSection
    lora: LoraSection = LoraSection()
    train: TrainSection = TrainSection()
    eval: EvalSection = EvalSection()
    output: OutputSection
    card: CardSection = CardSection()
    # Where the recipe came from (not a YAML key; set by load_recipe).
    source: str | None = Field(None, exclude=True)

    def to_yaml(self) -> str:
        """The resolved recipe (extends and --set applied), as YAML."""
        data = self.model_dump(mode="json", exclude={"source"})
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --- loading ------------------------------------------------------------------------


def resolve_recipe_path(name: str | Path) -> Path:
    """``legal`` -> recipes/legal.yaml; a path is used as given.

    A name found nowhere fails with a did-you-mean over recipes/; a folder fails
    with the recipes it holds."""
    p = Path(name)
    if p.is_dir():
        held = sorted(q.name for q in (*p.glob("*.yaml"), *p.glob("*.yml")))
        hint = f" (it holds {', '.join(held)})" if held else ""
        raise KazftError(f"{p} is a folder, not a recipe{hint}; give one recipe YAML file")
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    shipped = RECIPES_DIR / f"{name}.yaml"
    if not shipped.exists():
        known = shipped_names()
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listed = f" (recipes: {', '.join(known)})" if known else ""
        raise KazftError(f"no recipe {name!r}: looked for {p} and {shipped}{hint}{listed}")
    return shipped


def shipped_names() -> list[str]:
    """The recipe names in recipes/ (relative to the working directory)."""
    return sorted(q.stem for q in RECIPES_DIR.glob("*.yaml")) if RECIPES_DIR.is_dir() else []


def _line_map(text: str) -> dict[tuple[str, ...], int]:
    """Key path -> 1-based line of the key in the YAML text (best effort)."""
    lines: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = path + (str(k.value),)
                lines[key] = k.start_mark.line + 1
                walk(v, key)

    walk(root, ())
    return lines


def _read_yaml(path: Path) -> tuple[dict, dict[tuple[str, ...], int]]:
    if not path.exists():
        raise RecipeError(str(path), ["file not found"])
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(err, "problem", err)
        raise RecipeError(str(path), [f"{where}not valid YAML ({problem})"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(str(path), ["the top level must be a mapping of sections"])
    return data, _line_map(text)


def _merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for k, v in child.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, dict]:
    if path.resolve() in seen:
        chain = " -> ".join(str(p) for p in (*seen, path.resolve()))
        raise RecipeError(str(path), [f"extends: loops ({chain})"])
    data, lines = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data, lines
    if not isinstance(parent, str):
        raise RecipeError(str(path), ["extends: must be a recipe name or path"])
    ppath = Path(parent)
    if ppath.is_absolute():
        tried = [ppath]
    else:
        # Beside the recipe that names it, then in recipes/ (a recipe kept elsewhere may
        # extend a shipped one by name).
        file = ppath if ppath.suffix in (".yaml", ".yml") else Path(f"{parent}.yaml")
        tried = list(dict.fromkeys([path.parent / file, RECIPES_DIR / file]))
    found = next((t for t in tried if t.is_file()), None)
    if found is None:
        looked = " and ".join(str(t) for t in tried)
        raise RecipeError(str(path), [f"extends: {parent}: not found (looked for {looked})"])
    base, _ = _load_raw(found, (*seen, path.resolve()))
    return _merge(base, data), lines


def parse_override(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise RecipeError("--set", [f"{item!r}: expected KEY=VALUE, e.g. train.learning_rate=2e-4"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def _set_path(data: dict, keys: list[str], value: Any) -> None:
    cur = data
    for k in keys[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[k] = nxt
        cur = nxt
    cur[keys[-1]] = value


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = Recipe
    for part in path:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        ann = field.annotation
        nested = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)]
        model = next((a for a in nested if issubclass(a, BaseModel)), None)
        if model is None:
            return None
    return model


def _explain(err: Any, lines: dict, overrides: set[tuple[str, ...]]) -> str:
    loc = tuple(str(p) for p in err["loc"])
    dotted = ".".join(loc)
    where = "--set " if loc in overrides else ""
    line = lines.get(loc)
    prefix = f"line {line}: " if line and not where else ""
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(tuple(err["loc"][:-1]))
        known = list(parent.model_fields) if parent else []
        known = [k for k in known if k != "source"]
        hint = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.5)
        hint_s = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"{prefix}{where}{dotted}: unknown key{hint_s} (known: {', '.join(known)})"
    if kind == "missing":
        return f"{prefix}{dotted}: required key is missing"
    ctx = err.get("ctx") or {}
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        return (
            f"{prefix}{where}{dotted}: {err['input']!r} is out of range (must be {bound} {limit})"
        )
    if kind == "literal_error":
        return f"{prefix}{where}{dotted}: {err['input']!r} is not allowed (expected {ctx.get('expected')})"
    msg = err["msg"].removeprefix("Value error, ")
    got = (
        f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
    )
    return f"{prefix}{where}{dotted or 'recipe'}: {msg}{got}"


def load_recipe(name: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, merge (extends), override (--set) and validate a recipe."""
    path = resolve_recipe_path(name)
    data, lines = _load_raw(path)
    over_keys: set[tuple[str, ...]] = set()
    for item in overrides or []:
        keys, value = parse_override(item)
        _set_path(data, keys, value)
        over_keys.add(tuple(keys))
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        problems = [_explain(e, lines, over_keys) for e in exc.errors()]
        raise RecipeError(str(path), problems) from None
    recipe.source = str(path)
    return recipe
