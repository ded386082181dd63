"""The load generator: httpx clients on one asyncio loop, and what they measured.

It is light enough for the figures measured here (logins are bounded by argon2, a few dozen
per second on 2 cores); it is no match for wrk at tens of thousands of requests per second.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# Builds one request of a flood: (method, path, keyword arguments of httpx's request()).
RequestFactory = Callable[[], tuple[str, str, dict[str, object]]]


@dataclass
class Measured:
    """Latencies (seconds) of the answered requests; errors: other status or no answer."""

    expected: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        """The p-th percentile latency in milliseconds."""
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


async def _one(client: httpx.AsyncClient, measured: Measured, request: RequestFactory) -> None:
    method, path, kwargs = request()
    started = time.perf_counter()
    try:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError:
        measured.errors += 1
        return
    if response.status_code == measured.expected:
        measured.latencies.append(time.perf_counter() - started)
    else:
        measured.errors += 1


async def flood(
    base: str, request: RequestFactory, concurrency: int, seconds: float, expected: int = 200
) -> Measured:
    """`concurrency` connections, each sending `request()` back to back for `seconds`."""
    measured = Measured(expected)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def connection() -> None:
            while time.perf_counter() < deadline:
                await _one(client, measured, request)

        started = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(concurrency)))
        measured.seconds = time.perf_counter() - started
    return measured


async def probe(base: str, path: str, stop: asyncio.Event, every: float = 0.02) -> Measured:
    """One connection asking for `path` every `every` seconds until `stop` is set: the
    latency a lone request sees beside whatever else is going on."""
    measured = Measured(200)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        started = time.perf_counter()
        while not stop.is_set():
            await _one(client, measured, lambda: ("GET", path, {}))
            await asyncio.sleep(every)
        measured.seconds = time.perf_counter() - started
    return measured


async def flood_with_probe(
    base: str, request: RequestFactory, concurrency: int, seconds: float, probe_path: str
) -> tuple[Measured, Measured]:
    """`flood()`, with `probe()` on `probe_path` beside it for as long as it lasts."""
    stop = asyncio.Event()
    prober = asyncio.create_task(probe(base, probe_path, stop))
    try:
        flooded = await flood(base, request, concurrency, seconds)
    finally:
        stop.set()
    return flooded, await prober
