"""``kazft serve``: the base model and its adapters behind an OpenAI-compatible API."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kazft.errors import KazftError


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text + ". One base model in memory; each adapter is a model "
        "name clients choose in the request's model field. docs/serve.md has the details.",
    )
    m = p.add_argument_group("models")
    m.add_argument(
        "--recipe",
        "-r",
        metavar="NAME",
        help="serve a recipe's newest adapter (named after the recipe) with its system prompt",
    )
    m.add_argument(
        "--adapter",
        "-a",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="serve an adapter as model NAME: a run, a checkpoint, an export or a bundle "
        "(verified at start); repeatable",
    )
    m.add_argument("--base", metavar="MODEL", help="the base model (default: the adapters' base)")
    m.add_argument(
        "--quantize",
        metavar="none|BITS[:GROUP]",
        help="quantise the base at load (default: as the adapters were trained)",
    )
    m.add_argument(
        "--allow-other-base",
        action="store_true",
        help="accept --base although an adapter names another base (same model elsewhere)",
    )
    m.add_argument("--max-context", type=int, metavar="N", help="limit prompt + answer to N tokens")
    n = p.add_argument_group("network and security")
    n.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    n.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free)")
    n.add_argument(
        "--api-key",
        metavar="KEY",
        default=os.environ.get("KAZFT_API_KEY"),
        help="bearer token clients must send (default: $KAZFT_API_KEY); required for "
        "any --host but loopback",
    )
    n.add_argument(
        "--no-auth",
        action="store_true",
        help="serve a non-loopback address without a key (printed as a warning)",
    )
    n.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser pages from ORIGIN to call the API (CORS; off by default)",
    )
    n.add_argument(
        "--log-content",
        action="store_true",
        help="log questions and answers (off by default: conversations stay private)",
    )
    lim = p.add_argument_group("limits")
    lim.add_argument("--max-body-bytes", type=int, default=1 << 20, metavar="N")
    lim.add_argument("--max-messages", type=int, default=64, metavar="N")
    lim.add_argument(
        "--max-tokens", type=int, default=2048, metavar="N", help="most tokens per answer"
    )
    lim.add_argument(
        "--default-max-tokens",
        type=int,
        default=512,
        metavar="N",
        help="answer length when the request names none (default 512)",
    )
    lim.add_argument(
        "--max-batch", type=int, default=8, metavar="N", help="answers decoded together"
    )
    lim.add_argument(
        "--max-queue", type=int, default=16, metavar="N", help="requests waiting (more: 429)"
    )
    lim.add_argument("--request-timeout", type=float, default=300.0, metavar="S")
    lim.add_argument(
        "--stall-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="/health is unhealthy when requests wait this long without a token",
    )
    lim.add_argument("--shutdown-timeout", type=float, default=30.0, metavar="S")
    p.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> Any:
    from kazft.serve.limits import ServeSettings, check_bind

    for name in ("max_body_bytes", "max_messages", "max_tokens", "default_max_tokens", "max_batch"):
        if getattr(args, name) < 1:
            raise KazftError(
                f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1"
            )
    for name in ("request_timeout", "stall_seconds", "shutdown_timeout"):
        if getattr(args, name) <= 0:
            raise KazftError(f"--{name.replace('_', '-')}: must be positive")
    if args.max_queue < 0:
        raise KazftError("--max-queue: must be 0 or more")
    if not 0 <= args.port <= 65535:
        raise KazftError(f"--port {args.port}: must be 0-65535")
    if args.default_max_tokens > args.max_tokens:
        raise KazftError("--default-max-tokens must not exceed --max-tokens")
    if args.api_key is not None and len(args.api_key) < 16:
        raise KazftError("--api-key: use at least 16 characters (e.g. `openssl rand -hex 24`)")
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        api_key=args.api_key or None,
        no_auth=args.no_auth,
        allow_origins=tuple(args.allow_origin),
        max_body_bytes=args.max_body_bytes,
        max_messages=args.max_messages,
        max_tokens=args.max_tokens,
        default_max_tokens=args.default_max_tokens,
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        request_timeout_s=args.request_timeout,
        stall_s=args.stall_seconds,
        shutdown_timeout_s=args.shutdown_timeout,
        log_content=args.log_content,
    )
    problem = check_bind(settings)
    if problem:
        raise KazftError(problem)
    return settings


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def banner(registry: Any, settings: Any, url: str) -> str:
    import mlx.core as mx

    lines = [f"kazft serve: {url}  (web chat at {url}/, OpenAI API at {url}/v1)"]
    lines.append(f"  base   {registry.base_id}: {_mb(registry.base_bytes)}")
    for m in registry.models.values():
        if m.parent is not None:
            where = m.ref.source or m.ref.folder if m.ref is not None else ""
            lines.append(f"  model  {m.id}: adapter {where}, {_mb(m.nbytes)}")
    lines.append(
        f"  memory {_mb(mx.get_active_memory())} in use (adapters' side tensors "
        f"{_mb(registry.adapter_bytes)})"
    )
    ctx = registry.engine.context
    lines.append(
        f"  limits body {settings.max_body_bytes} B, {settings.max_messages} messages, "
        f"max_tokens {settings.max_tokens}, context {ctx}, batch {settings.max_batch}, "
        f"queue {settings.max_queue}, timeout {settings.request_timeout_s:g} s"
    )
    auth = "bearer key" if settings.api_key else "none (loopback only)"
    if settings.no_auth and not settings.api_key:
        auth = "NONE: --no-auth, anyone who reaches this address can use it"
    cors = ", ".join(settings.allow_origins) or "off"
    lines.append(
        f"  auth   {auth}; CORS {cors}; content logging {'ON' if settings.log_content else 'off'}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from kazft.serve.app import create_app
    from kazft.serve.limits import is_loopback
    from kazft.serve.registry import load_registry

    settings = settings_from(args)  # before loading anything
    if settings.no_auth and not settings.api_key and not is_loopback(settings.host):
        print(
            f"kazft: WARNING: serving {settings.host} without authentication (--no-auth)",
            file=sys.stderr,
        )
    registry = load_registry(
        recipe=args.recipe,
        adapters=args.adapter,
        base=args.base,
        quantize=args.quantize,
        max_context=args.max_context,
        allow_other_base=args.allow_other_base,
    )
    logging.basicConfig(level=logging.INFO, format="kazft: %(message)s")
    app = create_app(registry, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        log_level="info",
        server_header=False,
    )
    server = _server_class()(config)
    server.before_deadline = lambda: app.state.scheduler.cut_all()
    sock = _bind(settings.host, settings.port)
    bound = sock.getsockname()
    host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(banner(registry, settings, f"http://{host}:{bound[1]}"), file=sys.stderr, flush=True)
    server.run(sockets=[sock])  # SIGINT/SIGTERM: stop accepting, finish or cancel, exit
    return 0


def _server_class() -> Any:
    import threading

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server; on SIGTERM/SIGINT it stops accepting and waits up to
        --shutdown-timeout for answers in flight. Just before that deadline the
        remaining answers are ended cleanly ("length"), not dropped."""

        before_deadline: Any = None
        _timer: Any = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if self._timer is None and self.before_deadline is not None:
                wait = max(0.0, (self.config.timeout_graceful_shutdown or 0) - 1.0)
                self._timer = threading.Timer(wait, self.before_deadline)
                self._timer.daemon = True
                self._timer.start()

    return Server


def _bind(host: str, port: int) -> Any:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise KazftError(
            f"cannot listen on {host}:{port} ({err.strerror}); choose another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
