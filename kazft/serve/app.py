"""``create_app``: the FastAPI application around a loaded registry.

The app owns the decoder thread (started with the app, stopped at shutdown:
in-flight answers are cancelled once uvicorn's graceful-shutdown deadline has
passed). Routers: models, chat, completions, operations (health, metrics), and
the web chat page at ``/`` (:mod:`kazft.serve.page`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from kazft import __version__
from kazft.serve import api_errors, chat, completions, models, ops, page
from kazft.serve.limits import BodyLimit, ServeSettings
from kazft.serve.metrics import Metrics
from kazft.serve.registry import Registry
from kazft.serve.scheduler import Scheduler

log = logging.getLogger("kazft.serve")


def make_scheduler(registry: Registry, settings: ServeSettings, metrics: Metrics) -> Scheduler:
    engine = registry.engine
    return Scheduler(
        engine.model,
        registry.rows,
        engine.tokenizer,
        engine.stop_ids,
        {m.slot: m.prefix_ids for m in registry.models.values() if m.data.system_prompt},
        max_batch=settings.max_batch,
        max_queue=settings.max_queue,
        observer=metrics,
    )


def create_app(registry: Registry, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    metrics = Metrics()
    metrics.base_bytes.set(registry.base_bytes)
    metrics.adapter_bytes.set(registry.adapter_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.scheduler = make_scheduler(registry, settings, metrics)
        try:
            yield
        finally:
            app.state.scheduler.close()

    app = FastAPI(
        title="kazft serve",
        version=__version__,
        description="OpenAI-compatible API for a Gemma 3 base and its LoRA adapters.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.metrics = metrics
    api_errors.install(app)
    for module in (models, chat, completions, ops, page):
        app.include_router(module.router)

    app.add_middleware(CountRequests, metrics=metrics)

    if settings.allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["X-AI-Notice", "X-AI-Generated", "Retry-After"],
        )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


class CountRequests:
    """Pure ASGI middleware: requests by route template and status. (Starlette's
    BaseHTTPMiddleware would hide a client's disconnect from the handlers.)"""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def tracking(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "other")  # templates: no label per random URL
            self.metrics.requests.labels(endpoint, str(status)).inc()
