"""Bounds on what a client may send: a request body of at most `max_body` bytes (413), all of
it received within `body_timeout` seconds of the request's start (408). uvicorn bounds
neither: a client could hold a connection open forever with a body it never finishes.

The limits apply as the body is read; a request without one costs a header lookup.
"""

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body: int, body_timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.body_timeout
        received = 0
        complete = False

        async def bounded_receive() -> Message:
            # Raised from here, an HTTPException reaches the app's handlers as a problem body.
            nonlocal received, complete
            if complete:
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()) as waited:
                message = await receive()
            if waited.cancelled_caught:
                raise HTTPException(408, "The request body did not arrive in time.")
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(413, f"The request body is over {self.max_body} bytes.")
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, bounded_receive, send)


def has_body(scope: Scope) -> bool:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"content-length":
            return value != b"0"
        if name == b"transfer-encoding":
            return True
    return False
