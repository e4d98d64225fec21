"""POST /v1/chat/completions: streaming (SSE) and not."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from kazft.notice import header_value
from kazft.serve.answer import Prepared, events, prepare_chat, submit
from kazft.serve.api_errors import decoder_failed, error_body
from kazft.serve.limits import require_key
from kazft.serve.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatChunk,
    ChatCompletion,
    ChatRequest,
    ChunkChoice,
    Delta,
    Usage,
)

router = APIRouter(dependencies=[Depends(require_key)], tags=["chat"])
log = logging.getLogger("kazft.serve")


def notice_headers() -> dict[str, str]:
    """Kazakhstan's AI law: every answer says it is machine-generated (kazft.notice)."""
    return {"X-AI-Generated": "true", "X-AI-Notice": header_value()}


def usage(done: object) -> Usage:
    p, c, cached = done.prompt_tokens, done.completion_tokens, done.cached_tokens  # type: ignore[attr-defined]
    return Usage(
        prompt_tokens=p,
        completion_tokens=c,
        total_tokens=p + c,
        prompt_tokens_details={"cached_tokens": cached},
    )


async def collect(state: Any, prep: Prepared, request: Request) -> tuple[str, Any] | None:
    """A non-streaming answer: (its text, the final event), or None when the client left."""
    parts: list[str] = []
    async for event in events(state.scheduler, prep, request.is_disconnected):
        if event.kind == "text":
            parts.append(event.text)
        elif event.kind == "error":
            raise decoder_failed(event.text)
        else:
            return "".join(parts), event
    return None


def streaming(chunks: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type="text/event-stream",
        headers={**notice_headers(), "Cache-Control": "no-cache"},
    )


def sse(payload: object) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {text}\n\n"


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(req: ChatRequest, request: Request):  # type: ignore[no-untyped-def]
    state = request.app.state
    prep = submit(
        state.scheduler,
        state.registry,
        prepare_chat(state.registry, req, state.settings),
        req,
        state.settings,
    )
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if req.stream:
        include = bool(req.stream_options and req.stream_options.include_usage)
        return streaming(_stream(state, prep, req, cid, created, include))
    answer = await collect(state, prep, request)
    if answer is not None:
        text, event = answer
        if state.settings.log_content:
            log.info("chat %s: %s -> %s", req.model, [m.text() for m in req.messages], text)
        body = ChatCompletion(
            id=cid,
            created=created,
            model=req.model,
            choices=[
                ChatChoice(
                    message=AssistantMessage(content=text),
                    finish_reason=event.finish_reason,
                )
            ],
            usage=usage(event),
            ai_notice=header_value(),
        )
        return JSONResponse(body.model_dump(), headers=notice_headers())
    return Response(status_code=499)  # the client left: nobody reads this


async def _stream(
    state: object, prep: Prepared, req: ChatRequest, cid: str, created: int, include_usage: bool
) -> AsyncIterator[str]:
    st = state  # app.state
    first = ChatChunk(
        id=cid,
        created=created,
        model=req.model,
        choices=[ChunkChoice(delta=Delta(role="assistant", content=""))],
        ai_notice=header_value(),
    )
    yield sse(first.model_dump(exclude_none=True))
    parts: list[str] = []
    async for event in events(st.scheduler, prep):  # type: ignore[attr-defined]
        if event.kind == "text":
            parts.append(event.text)
            chunk = ChatChunk(
                id=cid,
                created=created,
                model=req.model,
                choices=[ChunkChoice(delta=Delta(content=event.text))],
            )
            yield sse(chunk.model_dump(exclude_none=True))
        elif event.kind == "error":
            failed = decoder_failed(event.text)  # logged there
            yield sse(error_body(500, failed.message, code=failed.code))
            break
        else:
            last = ChatChunk(
                id=cid,
                created=created,
                model=req.model,
                choices=[ChunkChoice(delta=Delta(), finish_reason=event.finish_reason)],  # type: ignore[arg-type]
            )
            yield sse(last.model_dump(exclude_none=True))
            if include_usage:
                tail = ChatChunk(
                    id=cid, created=created, model=req.model, choices=[], usage=usage(event)
                )
                yield sse(tail.model_dump(exclude_none=True))
            if st.settings.log_content:  # type: ignore[attr-defined]
                log.info(
                    "chat %s: %s -> %s", req.model, [m.text() for m in req.messages], "".join(parts)
                )
    yield sse("[DONE]")
