"""What is served: --recipe naming and card, argument checks before loading, and the
adapters' memory (each costs its own bytes, the base is shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kazft.errors import KazftError
from tests.generate.gen_helpers import write_adapter


def test_adapters_cost_their_own_bytes(registry: Any) -> None:
    adapters = [m for m in registry.models.values() if m.parent is not None]
    assert len(adapters) == 2 and all(m.nbytes > 0 for m in adapters)
    # Stacked side tensors hold exactly the adapters' bytes: no copy of the base, no spare slot.
    assert registry.adapter_bytes == sum(m.nbytes for m in adapters)
    assert registry.adapter_bytes < registry.base_bytes


def test_recipe_is_served_under_its_name_with_its_card(serve_runs: dict, tmp_path: Path) -> None:
    from kazft.serve.registry import load_registry

    run = serve_runs["civil"]
    text = (run / "recipe.yaml").read_text(encoding="utf-8")
    recipe = tmp_path / "civil-law.yaml"
    recipe.write_text(
        text.split("card:")[0] + "card:\n  risk_class: high\n  description: Civil code answers\n",
        encoding="utf-8",
    )
    reg = load_registry(recipe=str(recipe))
    assert set(reg.models) == {"kazft:tiny", "civil-law"}
    model = reg.models["civil-law"]
    assert model.parent == "kazft:tiny" and model.card.risk_class == "high"
    assert model.card.description == "Civil code answers"
    assert model.data.system_prompt == "Сіз заңгерсіз."
    assert model.prefix_ids  # the system prompt's prefix is cached


def test_refusals_before_loading(serve_runs: dict, serve_tiny: Path, tmp_path: Path) -> None:
    from kazft.serve.registry import plan

    civil = f"civil={serve_runs['civil']}"
    with pytest.raises(KazftError, match="given twice"):
        plan(None, [civil, civil], None, None)
    with pytest.raises(KazftError, match="must be 1-64"):
        plan(None, [f"../x={serve_runs['civil']}"], None, None)
    other = write_adapter(serve_tiny, tmp_path / "other", base_model="google/gemma-3-4b-it")
    with pytest.raises(KazftError, match="different bases"):
        plan(None, [civil, f"other={other}"], None, None)
    base, _, q, named = plan(None, [civil], None, None)
    assert base == "kazft:tiny" and q is not None and q.bits == 4 and len(named) == 1
