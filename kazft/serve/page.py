"""The web chat: ``/`` and its assets, served from the package.

Every asset ships inside kazft (kazft/serve/static), so the page works with the
network unplugged. The Content-Security-Policy allows nothing but this server:
no other origin for scripts, styles, images, fonts or requests, no inline
script, no framing. The AI-law notice reaches the page from kazft.notice (its
one home) through ``/ui/config.json``; the page copies none of that wording.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, Response

from kazft.notice import AI_NOTICE, LANGUAGES, RISK_CLASSES, RISK_EXAMPLES

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Assets change with the installed version; always revalidate.
    "Cache-Control": "no-cache",
}

# The only files served: a fixed list, so no request path ever reaches the file system.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "markdown.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)


@cache
def _asset(name: str) -> bytes:
    return (resources.files("kazft.serve") / "static" / name).read_bytes()


@router.get("/")
def index() -> Response:
    return Response(
        _asset("index.html"), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS
    )


@router.get("/ui/config.json")
def config() -> JSONResponse:
    """What the page needs from Python: the AI-law notice in each interface language."""
    return JSONResponse(
        {
            "languages": list(LANGUAGES),
            "notice": dict(AI_NOTICE),
            "risk_classes": list(RISK_CLASSES),
            "risk_examples": dict(RISK_EXAMPLES),
        },
        headers=SECURITY_HEADERS,
    )


@router.get("/ui/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail="not found")
    return Response(_asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)
