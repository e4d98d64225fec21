"""GET /v1/models: the base and each adapter (``parent`` = the base), with their cards."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from kazft.serve.answer import find_model
from kazft.serve.limits import require_key
from kazft.serve.registry import Registry, ServedModel
from kazft.serve.schemas import ModelCard, ModelList

router = APIRouter(dependencies=[Depends(require_key)], tags=["models"])


def card(registry: Registry, m: ServedModel) -> ModelCard:
    adapter = m.parent is not None
    return ModelCard(
        id=m.id,
        created=m.created,
        parent=m.parent,
        root=registry.base_id,
        kind="adapter" if adapter else "base",
        description=m.card.description if adapter else f"the base model {registry.base}",
        risk_class=m.card.risk_class if adapter else None,
        intended_use=m.card.intended_use if adapter else None,
        reviewer=m.card.reviewer if adapter else None,
        adapter_bytes=m.nbytes if adapter else None,
    )


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    registry: Registry = request.app.state.registry
    return ModelList(data=[card(registry, m) for m in registry.models.values()])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard)
async def get_model(model_id: str, request: Request) -> ModelCard:
    registry: Registry = request.app.state.registry
    return card(registry, find_model(registry, model_id))
