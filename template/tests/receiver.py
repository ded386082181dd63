"""A local HTTP endpoint for what the app sends out: Sentry's envelopes and OTLP's traces.

It answers every POST with 200, as Sentry and an OpenTelemetry collector do, and keeps the
bodies; the tests read them back with the formats' own parsers (JSON lines, protobuf).
"""

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


class Receiver:
    """Started on a free port; `received` holds (path, body) of every POST, in order."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: pytest shows what the tests assert."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # Sentry's client posts a project's envelopes to /api/<project>/envelope/.
        self.sentry_dsn = f"http://public@127.0.0.1:{self.server.server_address[1]}/1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sentry_events(self, kind: str = "event") -> list[dict[str, Any]]:
        """The items of every envelope received: errors ("event"), or "transaction"."""
        events = []
        for path, body in list(self.received):
            if path.endswith("/envelope/"):
                events += [item for found, item in envelope_items(body) if found == kind]
        return events

    def spans(self) -> list[Span]:
        spans = []
        for path, body in list(self.received):
            if path != "/v1/traces":
                continue
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                resource = attributes_of(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    spans += [
                        Span(
                            service=resource["service.name"],
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes=attributes_of(span.attributes),
                        )
                        for span in scope_spans.spans
                    ]
        return spans


def attributes_of(pairs: Any) -> dict[str, Any]:
    """OTLP's key-value list as a dict (strings and integers: what the tests read)."""
    return {
        pair.key: getattr(pair.value, pair.value.WhichOneof("value") or "string_value")
        for pair in pairs
    }


def envelope_items(body: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """Sentry's envelope format: a header line, then each item's header line and payload
    (of the header's `length`, or up to the next newline)."""
    _, _, rest = body.partition(b"\n")
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        if header.get("type") in {"event", "transaction"}:
            yield header["type"], json.loads(payload)


def wait_until(found: Callable[[], Any], timeout: float = 20) -> Any:
    """What `found` returns once it is something, polled; an AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while (result := found()) is None:
        assert time.monotonic() < deadline, "not received in time"
        time.sleep(0.1)
    return result


def sample(page: str, name: str, **labels: str) -> float | None:
    """The value of a sample of a Prometheus text page, parsed by the Prometheus client."""
    for family in text_string_to_metric_families(page):
        for found in family.samples:
            if found.name == name and labels.items() <= found.labels.items():
                return found.value
    return None


def metrics_page(port: int | None) -> str:
    """The Prometheus text page served on `port`."""
    assert port is not None
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def spans_named(receiver: Receiver, name: str, trace_id: str | None = None) -> list[Span] | None:
    """The spans called `name` (in the trace `trace_id`, if given), or None."""
    found = [span for span in receiver.spans() if span.name == name]
    found = [span for span in found if trace_id in (None, span.trace_id)]
    return found or None


def errors_about(receiver: Receiver, text: str) -> list[dict[str, Any]] | None:
    """The error events whose exception mentions `text`, or None."""
    events = receiver.sentry_events()
    return [event for event in events if text in str(event.get("exception"))] or None
