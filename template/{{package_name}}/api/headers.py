"""Security headers on every response: what an API's responses should say to a browser.

Each is a default: a response that sets one itself (a route that may be cached, say, with its
own `Cache-Control`) keeps its own and gets no second one.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
# The API returns JSON: nothing for a browser to run or frame. The docs pages (Swagger UI,
# from a CDN) are left without it, and are off in production unless API_DOCS says so.
CONTENT_SECURITY_POLICY = (
    b"content-security-policy",
    b"default-src 'none'; frame-ancestors 'none'",
)
# Browsers remember to use HTTPS only; sent in production, where the API is behind TLS.
STRICT_TRANSPORT_SECURITY = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, docs_prefix: str, https: bool) -> None:
        self.app = app
        self.docs_prefix = docs_prefix
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(HEADERS)
        if not scope["path"].startswith(self.docs_prefix):
            headers.append(CONTENT_SECURITY_POLICY)
        if self.https:
            headers.append(STRICT_TRANSPORT_SECURITY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                present = {name.lower() for name, _ in own}
                message["headers"] = [*own, *(h for h in headers if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
