"""Errors in OpenAI's JSON shape: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a client can cause answers with a 4xx and this body (the openai
client raises its matching exception class); a bug answers 500 in the same
shape without details (the traceback goes to the server log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("kazft.serve")

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def decoder_failed(detail: str) -> ApiError:
    """A failure inside the decoder: logged here, a plain 500 for the client."""
    log.error("the decoder failed: %s", detail)
    return ApiError(500, "the answer failed; the server log has the details", code="decoder_error")


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict:
    return {
        "error": {
            "message": message,
            "type": TYPES.get(status, "invalid_request_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(err.status, err.message, err.param, err.code),
        status_code=err.status,
        headers=err.headers,
    )


def _loc(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or None


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, err: ApiError) -> JSONResponse:
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = list(err.errors())
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        param = _loc(tuple(first.get("loc", ())))
        msg = str(first.get("msg", "invalid request"))
        if first.get("type") == "json_invalid":
            msg, param = "the body is not valid JSON", None
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        where = f"{param}: " if param else ""
        return JSONResponse(
            error_body(400, f"{where}{msg}{more}", param, "invalid_value"), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        status = err.status_code
        text = err.detail if isinstance(err.detail, str) else "invalid request"
        code = None
        if status == 400:
            text = f"the body could not be parsed ({text})"
        return JSONResponse(
            error_body(status, text, code=code),
            status_code=status,
            headers=getattr(err, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _bug(_: Request, err: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse(
            error_body(500, "internal server error; the server log has the details"),
            status_code=500,
        )
