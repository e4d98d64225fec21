"""POST /v1/completions: the prompt is one question, asked as the model was trained."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from kazft.notice import header_value
from kazft.serve.answer import Prepared, events, prepare_completion, submit
from kazft.serve.api_errors import decoder_failed, error_body
from kazft.serve.chat import collect, notice_headers, sse, streaming, usage
from kazft.serve.limits import require_key
from kazft.serve.schemas import Completion, CompletionChoice, CompletionRequest

router = APIRouter(dependencies=[Depends(require_key)], tags=["completions"])


@router.post(
    "/v1/completions",
    response_model=Completion,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def completions(req: CompletionRequest, request: Request):  # type: ignore[no-untyped-def]
    state = request.app.state
    prep = submit(
        state.scheduler,
        state.registry,
        prepare_completion(state.registry, req, state.settings),
        req,
        state.settings,
    )
    cid = f"cmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if req.stream:
        include = bool(req.stream_options and req.stream_options.include_usage)
        return streaming(_stream(state, prep, req, cid, created, include))
    answer = await collect(state, prep, request)
    if answer is not None:
        text, event = answer
        body = Completion(
            id=cid,
            created=created,
            model=req.model,
            choices=[
                CompletionChoice(text=text, finish_reason=event.finish_reason)  # type: ignore[arg-type]
            ],
            usage=usage(event),
            ai_notice=header_value(),
        )
        return JSONResponse(body.model_dump(), headers=notice_headers())
    return Response(status_code=499)  # the client left: nobody reads this


async def _stream(
    state: object,
    prep: Prepared,
    req: CompletionRequest,
    cid: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[str]:
    st = state
    first = True
    async for event in events(st.scheduler, prep):  # type: ignore[attr-defined]
        if event.kind == "text":
            chunk = Completion(
                id=cid,
                created=created,
                model=req.model,
                choices=[CompletionChoice(text=event.text, finish_reason=None)],
                ai_notice=header_value() if first else None,
            )
            first = False
            yield sse(chunk.model_dump(exclude_none=True))
        elif event.kind == "error":
            failed = decoder_failed(event.text)  # logged there
            yield sse(error_body(500, failed.message, code=failed.code))
            break
        else:
            last = Completion(
                id=cid,
                created=created,
                model=req.model,
                choices=[CompletionChoice(text="", finish_reason=event.finish_reason)],  # type: ignore[arg-type]
            )
            yield sse(last.model_dump(exclude_none=True))
            if include_usage:
                tail = Completion(
                    id=cid, created=created, model=req.model, choices=[], usage=usage(event)
                )
                yield sse(tail.model_dump(exclude_none=True))
    yield sse("[DONE]")
