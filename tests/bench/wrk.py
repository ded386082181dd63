"""wrk (Debian's package `wrk`), the load generator of the throughput figures.

One wrk run: a route at a concurrency for some seconds, two threads, its summary parsed;
with the server's process id, also the CPU time the server spent per request.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

THREADS = 2
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
# A POST with a JSON body and the headers given on the command line (wrk's Lua API).
POST_SCRIPT = """\
wrk.method = "POST"
wrk.body = '{"title": "bench"}'
wrk.headers["Content-Type"] = "application/json"
"""


def missing() -> str | None:
    if shutil.which("wrk") is None:
        return "wrk is not installed (Debian: apt install wrk)"
    return None


@dataclass
class Run:
    """One wrk run's summary: requests per second, latencies in ms, failures."""

    requests: int
    rate: float
    p50: float
    p99: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    # The server's CPU time (user and system) per request answered, in microseconds: on a
    # shared machine, a steadier figure than the rate, which moves with what else runs.
    cpu_us: float | None = None
    # PostgreSQL's CPU time per request (all its processes, those that ended too).
    postgres_cpu_us: float | None = None

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert found is not None, f"not a wrk duration: {text!r}"
    return float(found[1]) * UNITS[found[2]]


def parse(output: str) -> Run:
    def number(pattern: str, default: str = "0") -> str:
        found = re.search(pattern, output)
        return found[1] if found else default

    socket = SOCKET_ERRORS.search(output)
    connect, read, write, timeouts = (int(n) for n in socket.groups()) if socket else (0, 0, 0, 0)
    return Run(
        requests=int(number(r"(\d+) requests in")),
        rate=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50=_ms(number(r"\n\s+50%\s+(\S+)", "0ms")),
        p99=_ms(number(r"\n\s+99%\s+(\S+)", "0ms")),
        non_2xx=int(number(r"Non-2xx or 3xx responses: (\d+)")),
        socket_errors=connect + read + write + timeouts,
        timeouts=timeouts,
    )


def run(
    url: str,
    connections: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    *,
    post_json_to: Path | None = None,
    server_pid: int | None = None,
    postgres_pid: int | None = None,
) -> Run:
    """wrk on ``url``; with ``post_json_to`` (a scratch folder), POSTs a JSON body instead;
    with ``server_pid``, also the server's CPU time per request; with ``postgres_pid`` (the
    postmaster's), PostgreSQL's."""
    command = ["wrk", f"-t{min(THREADS, connections)}", f"-c{connections}",
               f"-d{seconds:g}s", "--latency", "--timeout", "5s"]  # fmt: skip
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if post_json_to is not None:
        script = post_json_to / "post.lua"
        script.write_text(POST_SCRIPT)
        command += ["-s", str(script)]
    cpu_before = cpu_seconds(server_pid) if server_pid is not None else 0.0
    postgres_before = cpu_seconds(postgres_pid) if postgres_pid is not None else 0.0
    result = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    summary = parse(result.stdout)
    if server_pid is not None and summary.requests:
        spent = cpu_seconds(server_pid) - cpu_before
        summary.cpu_us = spent / summary.requests * 1e6
        if postgres_pid is not None:
            spent = cpu_seconds(postgres_pid) - postgres_before
            summary.postgres_cpu_us = spent / summary.requests * 1e6
    return summary


def cpu_seconds(pid: int) -> float:
    """The CPU time a process and its descendants (uvicorn's workers, PostgreSQL's
    backends) have used so far, user and system, those that ended included
    (``/proc/PID/stat``: a process's own, and its children's that it waited for)."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # ended since it was listed
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, as they are now."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:  # ended since it was listed
        return []
    return [pid, *(member for child in children for member in process_tree(int(child)))]
