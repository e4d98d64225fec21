"""What the server serves: one base in memory and the adapters registered on it.

``kazft serve --recipe legal --adapter civil=runs/civil --adapter labour=bundle.tar.gz``
loads the base once (as training loaded it: the same quantised copy), checks
every adapter against it (bundles are verified, hashes and base fingerprint,
before anything is served), and attaches all adapters as per-row side paths
(:mod:`kazft.serve.rows`). Each served model keeps the prompt settings its
training used (its recipe's system prompt and template) and its recipe's card
(risk class, intended use) for ``/v1/models``.

Model names are the only way a request picks an adapter: a request never names
a path or a hub id.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kazft.artifacts.adapters import AdapterRef
from kazft.errors import KazftError, ModelError
from kazft.generate.source import ModelSource, resolve_source
from kazft.recipe import CardSection, DataSection, Quantize, load_recipe

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass
class ServedModel:
    id: str
    slot: int  # 0: the base; i: the i-th adapter
    data: DataSection  # system prompt + template the model was trained with
    card: CardSection
    parent: str | None  # the base's id, for adapters
    ref: AdapterRef | None = None
    nbytes: int = 0  # the adapter's own tensors
    prefix_ids: list[int] = field(default_factory=list)  # the shared prompt prefix
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Registry:
    base_id: str
    base: str
    quantize: Quantize | None
    engine: Any  # kazft.generate.engine.Engine for the shared base (tokenizer, limits)
    rows: Any  # kazft.serve.rows.AdapterRows
    models: dict[str, ServedModel]
    base_bytes: int
    adapter_bytes: int

    def get(self, name: str) -> ServedModel | None:
        return self.models.get(name)


def parse_adapter_arg(text: str) -> tuple[str, str]:
    """``NAME=PATH`` from ``--adapter``."""
    name, sep, path = text.partition("=")
    if not sep or not path:
        raise KazftError(
            f"--adapter {text!r}: expected NAME=PATH (e.g. --adapter civil=runs/civil); "
            "NAME is what clients put in the request's model field"
        )
    if not NAME.match(name):
        raise KazftError(
            f"--adapter {text!r}: the name {name!r} must be 1-64 letters, digits, '.', '_', "
            "'-' or ':', starting with a letter or digit"
        )
    return name, path


def resolve_served_adapter(path: str) -> ModelSource:
    """The one place serve turns an adapter path (run, checkpoint, export or bundle)
    into its adapter, base and prompt settings: kazft.artifacts' resolve_adapter,
    through the same ModelSource that ``kazft generate`` builds."""
    return resolve_source(adapter=path)


def base_id_of(base: str) -> str:
    p = Path(base).expanduser()
    if p.exists():
        return p.resolve().name
    return base


def _card(src: ModelSource, recipe_card: CardSection | None) -> CardSection:
    if recipe_card is not None:
        return recipe_card
    ref = src.adapter
    if ref is not None and ref.recipe_yaml is not None:
        try:
            return load_recipe(ref.recipe_yaml).card
        except KazftError:
            pass
    return CardSection()


def _same_quantize(a: Quantize | None, b: Quantize | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.bits, a.group_size) == (b.bits, b.group_size)


def plan(
    recipe: str | None,
    adapters: list[str],
    base: str | None,
    quantize: str | None,
) -> tuple[str, str | None, Quantize | None, list[tuple[str, ModelSource, CardSection | None]]]:
    """Check the arguments before anything is loaded: (base, revision, quantisation, models)."""
    from kazft.generate.source import parse_quantize

    named: list[tuple[str, ModelSource, CardSection | None]] = []
    if recipe is not None:
        rec = load_recipe(recipe)
        src = resolve_source(recipe=recipe)
        name = Path(rec.source or recipe).stem
        named.append((name, src, rec.card))
    for text in adapters:
        name, path = parse_adapter_arg(text)
        if any(n == name for n, _, _ in named):
            raise KazftError(f"--adapter {text!r}: the name {name!r} is given twice")
        named.append((name, resolve_served_adapter(path), None))
    if base is None:
        bases = {s.base for _, s, _ in named}
        if not bases:
            raise KazftError(
                "nothing to serve: give --recipe NAME, --adapter NAME=PATH (repeatable) "
                "and/or --base MODEL"
            )
        if len(bases) > 1:
            listed = ", ".join(f"{n}: {s.base}" for n, s, _ in named)
            raise KazftError(
                f"the adapters were trained on different bases ({listed}); one server "
                "holds one base: serve them from separate servers, or name it with --base"
            )
        base = bases.pop()
    revision = next((s.revision for _, s, _ in named if s.base == base), None)
    if quantize is not None:
        q = parse_quantize(quantize)
    else:
        qs = [s.quantize for _, s, _ in named]
        q = qs[0] if qs else None
        if any(not _same_quantize(q, other) for other in qs):
            raise KazftError(
                "the adapters were trained on differently quantised bases; one server "
                "holds one copy of the base: choose it with --quantize none|BITS[:GROUP]"
            )
    return base, revision, q, named


def load_registry(
    recipe: str | None = None,
    adapters: list[str] | None = None,
    base: str | None = None,
    quantize: str | None = None,
    max_context: int | None = None,
    allow_other_base: bool = False,
    log: Any = None,
) -> Registry:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from kazft.generate.engine import Engine, check_adapter_base, load_base
    from kazft.generate.fast_lora import read_lora
    from kazft.generate.source import default_data
    from kazft.model.load import resolve_model
    from kazft.serve.rows import AdapterRows, attach_rows

    base_name, revision, q, named = plan(recipe, adapters or [], base, quantize)
    folder = resolve_model(base_name, revision)
    for _name, src, _ in named:  # before reading any weights; verifies bundles
        assert src.adapter is not None
        explicit = src.base_explicit or base is not None
        check_adapter_base(
            src.adapter,
            replace(src, base=base_name, base_explicit=explicit),
            folder,
            allow_other_base,
        )
    model, tokenizer, folder, config = load_base(base_name, revision, q)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ModelError(f"{folder}: the tokenizer has no chat template")
    base_bytes = sum(v.nbytes for _, v in tree_flatten(model.parameters()))  # type: ignore[union-attr,str-unpack]
    loras = []
    for name, src, _ in named:
        ref = src.adapter
        assert ref is not None
        try:
            loras.append(read_lora(model, ref))
        except ModelError as err:
            raise ModelError(f"adapter {name}: {err}") from None
    rows = AdapterRows()
    adapter_bytes = attach_rows(model, loras, rows)
    mx.eval(model.parameters())
    engine = Engine(model, tokenizer, folder, config, max_context=max_context)

    bid = base_id_of(base_name)
    base_data = named[0][1].data if recipe is not None else default_data()
    models = {bid: ServedModel(id=bid, slot=0, data=base_data, card=CardSection(), parent=None)}
    for i, ((name, src, card), lw) in enumerate(zip(named, loras, strict=True), start=1):
        if name == bid:
            raise KazftError(f"--adapter {name}: the name is the base model's; choose another")
        own = sum(a.nbytes + b.nbytes for a, b in lw.pairs.values())
        models[name] = ServedModel(
            id=name,
            slot=i,
            data=src.data,
            card=_card(src, card),
            parent=bid,
            ref=src.adapter,
            nbytes=own,
        )
    for m in models.values():
        m.prefix_ids = shared_prefix(tokenizer, m.data)
    return Registry(
        base_id=bid,
        base=base_name,
        quantize=q,
        engine=engine,
        rows=rows,
        models=models,
        base_bytes=base_bytes,
        adapter_bytes=adapter_bytes,
    )


def shared_prefix(tokenizer: Any, data: DataSection) -> list[int]:
    """The token ids every single-question prompt of this model starts with.

    Two questions are rendered as training renders them; their common token
    prefix (the system prompt and the template's opening) is what the prefix
    cache holds. A request whose ids do not start with it is prefilled whole.
    """
    from kazft.generate.prompt import prompt_ids, question_messages

    a = prompt_ids(tokenizer, question_messages(data, "Бірінші сұрақ"))[1]
    b = prompt_ids(tokenizer, question_messages(data, "Question two?"))[1]
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    # A token at the boundary may merge with the question's first letters: keep it out.
    return a[: max(0, n - 1)]
