"""Structured logging: JSON lines in production, readable lines in development.

Every line logged while a request is handled carries its `request_id`, including
lines from the standard library loggers (uvicorn, SQLAlchemy) routed through structlog.
"""

import logging
import random
import re
import sys
import time
from collections.abc import Callable, Sequence

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
HEADER_NAME = REQUEST_ID_HEADER.lower().encode()  # as ASGI gives names: lowercase bytes
# A client-sent id is kept only if it is short and plain, so it cannot forge log lines.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

logger = structlog.get_logger("request")


class StdoutLogger:
    """Where structlog writes the app's rendered lines: the current `sys.stdout` (looked up
    at each line: a test may swap it), under the name that `add_logger_name` reports."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def msg(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    debug = info = warning = error = critical = exception = msg


def configure_logging(
    *, json: bool, level: str = "INFO", extra: Sequence[structlog.types.Processor] = ()
) -> None:
    """Configure every line's shape; `extra` processors add fields (the trace id, say)."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        *extra,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    # The app's own lines: dropped below the level before any processor runs, then rendered
    # and written by structlog itself (the standard library's logging costs as much again).
    structlog.configure(
        processors=[*shared, *([structlog.processors.format_exc_info] if json else []), renderer],
        logger_factory=StdoutLogger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    # The standard library's lines (uvicorn, SQLAlchemy...): the same shape, through a handler.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info
            if json
            else structlog.processors.ExceptionPrettyPrinter(),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn's own handlers would print each line a second time, unstructured.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # The middleware below logs each request with its id; uvicorn's access log would not.
    logging.getLogger("uvicorn.access").disabled = True


# Told of each response: its request's scope, its status and the seconds it took.
Observer = Callable[[Scope, int, float], None]


class RequestContextMiddleware:
    """Binds a request id to every log line and logs one line per request; `observe`, if
    given, is told of each response too (the metrics, ops/telemetry.py)."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == HEADER_NAME),
            "",
        )
        if not SAFE_REQUEST_ID.fullmatch(incoming):
            # An id to find a request's lines by, not a secret: no system call for it.
            incoming = f"{random.getrandbits(128):032x}"
        request_id = incoming
        status_code = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                header = (HEADER_NAME, request_id.encode())
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            logger.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status_code,
                duration_ms=round(seconds * 1000, 2),
            )
            if self.observe is not None:
                self.observe(scope, status_code, seconds)
        # After an error the id stays bound: the handler of unexpected errors and the error
        # reporter run outside this middleware, and log and report it with the id. Each
        # request runs in a context of its own, so it goes no further.
        structlog.contextvars.unbind_contextvars("request_id")
