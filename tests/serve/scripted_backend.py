"""A scripted OpenAI-style backend behind the real page router, for the page's own behaviour.

The model-backed tests run against ``kazft serve`` itself; these tests need
answers and failures that a tiny model cannot be made to produce on demand:
an answer carrying ``<img onerror>`` and ``<script>``, a slow stream to stop,
a busy server (429 with Retry-After), a connection cut mid-answer, a key that
stops being valid. The last user message picks the script.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kazft.serve.page import router as page_router

XSS_ANSWER = (
    'Жауап: <img src=x onerror="window.__xss=1"> және <script>window.__xss=2</script> **маңызды**'
)
MD_ANSWER = (
    "**Қысқаша жауап:**\n\n"
    "5. Бесінші бап\n6. Алтыншы бап\n\n"
    "- бірінші тармақ\n- екінші тармақ\n\n"
    "Қорытынды: `АК 178-бап`, [сілтеме](https://example.com/x)."
)
SLOW_WORDS = 400
MODELS = [
    {"id": "tiny", "object": "model", "owned_by": "kazft", "parent": None},
    {
        "id": "legal",
        "object": "model",
        "owned_by": "kazft",
        "parent": "tiny",
        "description": "Қазақ заң сұрақтарына жауап (demo)",
        "risk_class": "medium",
        "intended_use": "drafting answers for a qualified lawyer to check",
        "reviewer": "a qualified lawyer of the team",
    },
]


def _error(status: int, message: str, kind: str, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)


def _chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {"content": content} if content is not None else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    obj = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "legal",
        "choices": [choice],
    }
    return "data: " + json.dumps(obj, ensure_ascii=False) + "\n\n"


def make_app(api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(page_router)
    state: dict[str, Any] = {"key": api_key, "requests": [], "disconnected": 0}
    app.state.script = state

    def authorised(request: Request) -> bool:
        key = state["key"]
        if key is None:
            return True
        given = request.headers.get("authorization", "")
        return secrets.compare_digest(given.encode(), f"Bearer {key}".encode())

    @app.get("/v1/models")
    def models(request: Request) -> JSONResponse:
        if not authorised(request):
            return _error(401, "invalid API key", "invalid_request_error")
        return JSONResponse({"object": "list", "data": MODELS})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        if not authorised(request):
            return _error(401, "invalid API key", "invalid_request_error")
        body = await request.json()
        state["requests"].append(body)
        question = body["messages"][-1]["content"]
        if "BUSY" in question:
            return _error(429, "queue full", "rate_limit_error", {"Retry-After": "7"})
        if "XSS" in question:
            pieces = [XSS_ANSWER[i : i + 7] for i in range(0, len(XSS_ANSWER), 7)]
        elif "MD" in question:
            pieces = [MD_ANSWER[i : i + 5] for i in range(0, len(MD_ANSWER), 5)]
        elif "SLOW" in question:
            pieces = ["сөз "] * SLOW_WORDS
        else:
            pieces = ["Жауап", ": ", question]
        cut = "CUT" in question
        delay = 0.05 if "SLOW" in question else 0.005

        async def events() -> Any:
            try:
                for i, piece in enumerate(pieces):
                    if cut and i == 2:
                        raise ConnectionResetError("scripted: connection lost mid-answer")
                    yield _chunk(piece)
                    await asyncio.sleep(delay)
                yield _chunk(finish="stop")
                usage = {
                    "prompt_tokens": 10,
                    "completion_tokens": len(pieces),
                    "total_tokens": 10 + len(pieces),
                }
                yield "data: " + json.dumps({"choices": [], "usage": usage}) + "\n\n"
                yield "data: [DONE]\n\n"
            except asyncio.CancelledError:
                state["disconnected"] += 1
                raise

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
