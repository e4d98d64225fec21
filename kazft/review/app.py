"""``kazft review serve``: the rating page and its small JSON API.

The page and every response carry only what raters may see: the items (question,
answer A, answer B) and a rater's own progress. The key and the answer files
under key/ are never read here, so nothing in the HTML or the JSON can reveal
which system wrote which answer. Ratings are appended and fsynced before the
reply (kazft.review.store.RatingLog). Security follows ``kazft serve``:
loopback by default, a bearer key for anything else, a capped body, errors in
OpenAI's JSON shape, no external request from the page (strict CSP).
"""

from __future__ import annotations

import importlib.resources
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from kazft.notice import AI_NOTICE
from kazft.review.store import RatingIn, RatingLog, read_items
from kazft.serve import api_errors
from kazft.serve.api_errors import ApiError
from kazft.serve.limits import BodyLimit, ServeSettings, require_key

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ASSETS = {
    "review.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
}

router = APIRouter()


def _asset(name: str) -> bytes:
    return (importlib.resources.files("kazft.review") / "static" / name).read_bytes()


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


@router.get("/", response_class=HTMLResponse)
def page() -> Response:
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8", headers=_headers())


@router.get("/static/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise ApiError(404, f"no asset {name!r}", code="not_found")
    return Response(_asset(name), media_type=ASSETS[name], headers=_headers())


@router.get("/api/review", dependencies=[Depends(require_key)])
def review(request: Request) -> dict[str, Any]:
    items = request.app.state.items
    return {"items": [i.model_dump() for i in items], "notice": AI_NOTICE}


@router.get("/api/progress", dependencies=[Depends(require_key)])
def progress(request: Request, rater: str = Query(min_length=1, max_length=80)) -> dict[str, Any]:
    log: RatingLog = request.app.state.log
    latest = {r["item"]: r for r in log.read() if r.get("rater") == rater}
    return {"rater": rater, "rated": sorted(latest), "ratings": latest}


@router.post("/api/ratings", dependencies=[Depends(require_key)])
def rate(request: Request, rating: RatingIn) -> dict[str, Any]:
    ids = request.app.state.item_ids
    if rating.item not in ids:
        raise ApiError(
            404, f"no item {rating.item!r} in this review", param="item", code="not_found"
        )
    record = {
        **rating.model_dump(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    request.app.state.log.append(record)
    return {"saved": True, "item": rating.item}


def create_review_app(folder: Path, settings: ServeSettings | None = None) -> FastAPI:
    items = read_items(folder)
    app = FastAPI(title="kazft review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings or ServeSettings()
    app.state.items = items
    app.state.item_ids = {i.id for i in items}
    app.state.log = RatingLog(folder)
    api_errors.install(app)
    app.include_router(router)
    app.add_middleware(BodyLimit, limit=app.state.settings.max_body_bytes)
    return app
