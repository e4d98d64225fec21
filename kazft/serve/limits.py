"""The server's settings, its limits and the dependencies that enforce them.

Safe by default: every size is capped, a key is checked in constant time, and
a body too large is refused (413) while it arrives, before it is parsed.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from kazft.serve.api_errors import ApiError, error_body

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str | None = None
    no_auth: bool = False
    allow_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20  # 1 MiB: a long statute fits, a flood does not
    max_messages: int = 64
    max_tokens: int = 2048  # most tokens one answer may ask for
    default_max_tokens: int = 512
    max_batch: int = 8  # rows decoded together
    max_queue: int = 16  # requests waiting for a row; more: 429
    request_timeout_s: float = 300.0
    stall_s: float = 30.0  # /health: in flight and no token for this long = unhealthy
    shutdown_timeout_s: float = 30.0
    log_content: bool = False
    retry_after_s: int = 2


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def check_bind(settings: ServeSettings) -> str | None:
    """An error message when the bind is unsafe, else None (a warning is printed by the CLI)."""
    if is_loopback(settings.host) or settings.api_key or settings.no_auth:
        return None
    return (
        f"--host {settings.host} makes the server reachable from other machines; give "
        "--api-key KEY (clients send it as a bearer token), or --no-auth to serve "
        "without authentication on a network you trust"
    )


def require_key(request: Request) -> None:
    """Dependency: the bearer token, when the server has a key."""
    key: str | None = request.app.state.settings.api_key
    if not key:
        return
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("utf-8", "surrogateescape"), key.encode("utf-8")
    )
    if not ok:
        raise ApiError(
            401,
            "missing or wrong API key: send it as 'Authorization: Bearer KEY'",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, checked as it arrives.

    Hand-written because FastAPI's own ``max_body_size`` answers in plain text;
    clients of this API expect OpenAI's JSON error shape on every 4xx.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send)
                return
        seen = 0
        refused = False

        async def guarded_receive() -> dict:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message: dict = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # The app sees a client that left; this middleware answers 413.
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        finally:
            if refused:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            error_body(
                413,
                f"the request body is over {self.limit} bytes (--max-body-bytes); "
                "send a shorter text",
                code="request_too_large",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
