"""The benchmark: ``uv run python -m tests.bench`` (docs/performance.md says what it shows).

It renders each variant it measures, installs it, and serves it as production does: one
uvicorn worker (``--workers`` for more), ``ENVIRONMENT=production``, on a fresh database the
prestart script migrated.
Beside them, a bare FastAPI app with the same FastAPI and uvicorn gives the reference for
``/health``, measured in the same run, before and after each variant; and each route that
does a route's work is measured beside its floor, the same route written by hand
(``tests/bench/floor_app.py``), served the same way on the same database right after it.

Measured: cold start to the first 200; wrk (Debian's ``wrk``) on ``/health`` (c32),
``/api/v1/users/me`` (c32, c256), ``/api/v1/items/?limit=20`` (c32) and item creation (c64,
every 201 counted against the rows in the table); the login flood (c32 on
``/api/v1/auth/login`` with the right password, from a Python load generator), with the
server's peak RSS and ``/health``'s p99 beside the flood; then ``/health``,
``/api/v1/users/me`` and the items list again with every operations setting on (Sentry,
OpenTelemetry and Prometheus, sending to a local endpoint): their cost; ``copier copy`` of
one project; with ``--suite``, the template suite's wall time. Each figure is printed with
its target. Needs PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg

from tests import support
from tests.bench import wrk
from tests.bench.load import Measured, flood_with_probe, probe
from tests.variants import BASE_ANSWERS, PACKAGE_NAME, VARIANTS_BY_ID

DEFAULT_VARIANTS = ["async-auth-none", "sync-auth-none"]
FLOORS = Path(__file__).parent  # floor_app.py
CONCURRENCY = 32
BARE_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
"""
# The targets (docs/performance.md): /health's share of bare FastAPI's rate; each route's
# CPU time per request as a multiple of its floor's, and the rest.
HEALTH_SHARE = 0.70
USERS_ME_FACTOR = 2.0  # the server's CPU per request, and PostgreSQL's
USERS_ME_P99_FACTOR = 3.0
ITEMS_FACTOR = 2.5
C256_DROP = 0.15
OPERATIONS_KEPT = {"/health": 0.80, "/api/v1/users/me": 0.90}
RSS_TARGET_MB = 300
HEALTH_P99_TARGET_MS = 50
COLD_START_FACTOR = 2.0
COPY_TARGET_S = 1.5
SUITE_TARGET_S = 600


def peak_rss_mb(pid: int) -> float:
    """The server's peak resident set size so far (VmHWM), in MB: with several uvicorn
    workers, the largest of its processes' (each serves requests on its own)."""
    peaks = [
        int(line.split()[1]) / 1024
        for member in wrk.process_tree(pid)
        for line in Path(f"/proc/{member}/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    ]
    if not peaks:
        raise RuntimeError(f"no VmHWM for process {pid}")
    return max(peaks)


@dataclass
class Server:
    base: str
    pid: int
    cold_start: float  # seconds from the process's start to the first 200 on /health


@contextlib.contextmanager
def uvicorn(project: Path, app: list[str], env: Mapping[str, str]) -> Iterator[Server]:
    """uvicorn in ``project``'s environment: one worker process, or as many as
    ``WEB_CONCURRENCY`` in ``env`` says (uvicorn reads it, as in the image)."""
    port = support.free_port()
    command = [str(project / ".venv/bin/python"), "-m", "uvicorn", *app,
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]  # fmt: skip
    log = (project.parent / "uvicorn.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=project, env=dict(env), stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = started + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health").status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start:\n{log.name}")
            time.sleep(0.01)
        cold_start = time.monotonic() - started
        with httpx.Client(base_url=base) as client:  # warm up: first requests are slower
            for _ in range(50):
                client.get("/health")
        yield Server(base, process.pid, cold_start)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def install(template: Path, variant_id: str, workdir: Path) -> Path:
    project = workdir / variant_id / "project"
    support.render(template, project, VARIANTS_BY_ID[variant_id].answers)
    version = VARIANTS_BY_ID[variant_id].python_version
    python = support.find_python(version)
    if python is None:
        raise RuntimeError(f"{variant_id} runs on Python {version}, not found on this machine")
    # Compiled to bytecode up front, as the Dockerfile does (UV_COMPILE_BYTECODE): the first
    # start does not compile what it imports, so the cold start is production's.
    support.run(["uv", "sync", "--no-dev", "--compile-bytecode", "--python", python], cwd=project)
    # The floors' pool (tests/bench/floor_app.py): beside the project's packages, not among them.
    support.run(["uv", "pip", "install", "--python", str(project / ".venv/bin/python"),
                 "psycopg-pool>=3.2,<4"], cwd=project)  # fmt: skip
    return project


@dataclass
class Row:
    """One measured figure and its target."""

    what: str
    figure: str
    target: str = ""
    ok: bool | None = None  # None: no target


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, what: str, figure: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(what, figure, target, ok))
        mark = "" if ok is None else ("  ok" if ok else "  MISSED")
        print(f"  {what:<40} {figure:<112} {target}{mark}", flush=True)

    @property
    def missed(self) -> int:
        return sum(row.ok is False for row in self.rows)


def describe(run: wrk.Run) -> str:
    cpu = f"  cpu {run.cpu_us:5.0f} us/req" if run.cpu_us is not None else ""
    if run.postgres_cpu_us is not None:
        cpu += f" (postgres {run.postgres_cpu_us:4.0f})"
    return (f"{run.rate:8.0f} rps  p50 {run.p50:6.1f} ms  p99 {run.p99:6.1f} ms  "
            f"errors {run.errors} ({run.timeouts} timeouts){cpu}")  # fmt: skip


def against(run: wrk.Run, floor: wrk.Run) -> tuple[str, float, float]:
    """The run's CPU time per request, the server's and PostgreSQL's, as multiples of its
    floor's: the text, and the two factors."""
    server = (run.cpu_us or 0) / (floor.cpu_us or 1)
    postgres = (run.postgres_cpu_us or 0) / (floor.postgres_cpu_us or 1)
    text = (f"{server:.1f}x the floor's cpu, postgres {postgres:.1f}x, "
            f"p99 {run.p99 / max(floor.p99, 0.1):.1f}x")  # fmt: skip
    return text, server, postgres


def shares(run: wrk.Run, bare: Reference) -> str:
    """The run's rate as a share of bare FastAPI's, and the same by CPU time per request."""
    by_cpu = f", by cpu {bare.cpu_us / run.cpu_us:.0%}" if run.cpu_us else ""
    return f"{run.rate / bare.rate:.0%} of bare{by_cpu}"


@dataclass
class Reference:
    """Bare FastAPI's /health: requests per second, and its CPU time per request in us."""

    rate: float
    cpu_us: float


class Bare:
    """The bare FastAPI app, served beside the variants: its /health rate, measured again
    around every variant's (the machine is shared and noisy)."""

    def __init__(self, server: Server, seconds: float) -> None:
        self.server = server
        self.seconds = seconds

    def health(self) -> wrk.Run:
        url = self.server.base + "/health"
        return wrk.run(url, CONCURRENCY, self.seconds, server_pid=self.server.pid)


def measure(
    project: Path, variant_id: str, bare: Bare, seconds: float, workers: int, out: Results
) -> None:
    variant = VARIANTS_BY_ID[variant_id]
    name = support.database_name("bench", project.parent.name)
    password = secrets.token_urlsafe(16)
    with support.temporary_database(name) as url:
        env = support.clean_env(
            {
                "ENVIRONMENT": "production",
                "DATABASE_URL": url,
                "SECRET_KEY": secrets.token_urlsafe(32),
                "FIRST_SUPERUSER_EMAIL": "admin@example.com",
                "FIRST_SUPERUSER_PASSWORD": password,
                # The floods come from one address, for one account (a login in flight counts
                # as a failure until it succeeds): measure the app, not the throttle.
                "LOGIN_ATTEMPTS_PER_ADDRESS": "1000000/minute",
                "LOGIN_FAILURES_PER_ACCOUNT": "1000000/minute",
                "WEB_CONCURRENCY": str(workers),
            }
        )
        if workers > 1:
            # As the generated README says: with a process per core, one hash at a time each.
            env["PASSWORD_HASH_CONCURRENCY"] = str(max(1, (os.cpu_count() or 1) // workers))
        python = str(project / ".venv/bin/python")
        support.run([python, "-m", f"{PACKAGE_NAME}.prestart"], cwd=project, env=env)
        app = [f"{PACKAGE_NAME}.main:create_app", "--factory"]
        floor_app = [f"floor_app:{variant.db_mode}_app", "--factory", "--app-dir", str(FLOORS)]
        floor_env = {**env, "FLOOR_AUTH": "1" if variant.auth else "0"}
        with (
            contextlib.closing(Database(url)) as database,
            uvicorn(project, app, env) as server,
            uvicorn(project, floor_app, floor_env) as floor,
        ):
            bare_cold = bare.server.cold_start
            out.add("cold start to the first 200", f"{server.cold_start:.2f} s "
                    f"(bare {bare_cold:.2f} s)", f"<= {COLD_START_FACTOR} x bare",
                    server.cold_start <= COLD_START_FACTOR * bare_cold)  # fmt: skip
            before = bare.health()
            health = wrk.run(server.base + "/health", CONCURRENCY, seconds, server_pid=server.pid)
            after = bare.health()
            reference = Reference(
                statistics.mean([before.rate, after.rate]),
                statistics.mean([before.cpu_us or 0, after.cpu_us or 0]),
            )
            out.add(f"bare FastAPI /health c{CONCURRENCY}",
                    f"{reference.rate:8.0f} rps  cpu {reference.cpu_us:5.0f} us/req")  # fmt: skip
            share = health.rate / reference.rate
            out.add(f"/health c{CONCURRENCY}", f"{describe(health)}  {shares(health, reference)}",
                    f">= {HEALTH_SHARE:.0%}", share >= HEALTH_SHARE)  # fmt: skip

            headers: dict[str, str] = {}
            with httpx.Client(base_url=server.base) as client:
                if variant.auth:
                    form = {"username": "admin@example.com", "password": password}
                    token = client.post("/api/v1/auth/login", data=form).json()["access_token"]
                    headers = {"Authorization": f"Bearer {token}"}
                for number in range(20):
                    body = {"title": f"seed {number}"}
                    client.post("/api/v1/items/", json=body, headers=headers).raise_for_status()
                for path in ("/api/v1/users/me", "/api/v1/items/?limit=20")[1 - variant.auth :]:
                    ours, theirs = (httpx.get(base + path, headers=headers).json()
                                    for base in (server.base, floor.base))  # fmt: skip
                    if ours != theirs:
                        raise RuntimeError(f"the floor answers {path} otherwise: {theirs}")

            def run(base: str, path: str, connections: int = CONCURRENCY) -> wrk.Run:
                pid = server.pid if base == server.base else floor.pid
                return wrk.run(base + path, connections, seconds, headers, server_pid=pid,
                               postgres_pid=database.postmaster)  # fmt: skip

            off = {"/health": health.rate}
            if variant.auth:
                me = "/api/v1/users/me"
                # Each pool opens its connections as the load needs them: a steady run
                # opens none (with overflow, one per request past the pool).
                for base in (server.base, floor.base):
                    wrk.run(base + me, CONCURRENCY, 2, headers)
                opened = database.sessions()
                c32 = run(server.base, me)
                opened = database.sessions() - opened
                lowest = run(floor.base, me)
                text, factor, postgres = against(c32, lowest)
                out.add("/api/v1/users/me c32", f"{describe(c32)}  new connections {opened}",
                        "0 new connections", opened == 0)  # fmt: skip
                out.add("  its floor", describe(lowest))
                out.add("  /api/v1/users/me against its floor", text,
                        f"<= {USERS_ME_FACTOR:g}x (postgres too), p99 <= {USERS_ME_P99_FACTOR:g}x",
                        factor <= USERS_ME_FACTOR and postgres <= USERS_ME_FACTOR
                        and c32.p99 <= USERS_ME_P99_FACTOR * lowest.p99)  # fmt: skip
                c256 = run(server.base, me, 256)
                kept = c256.rate >= (1 - C256_DROP) * c32.rate
                out.add("/api/v1/users/me c256", describe(c256),
                        f"0 errors, >= {1 - C256_DROP:.0%} of c32",
                        c256.errors == 0 and kept)  # fmt: skip
                off[me] = c32.rate
            page = "/api/v1/items/?limit=20"
            items = run(server.base, page)
            lowest = run(floor.base, page)
            text, factor, _ = against(items, lowest)
            out.add(f"{page} c32", describe(items), "0 errors", items.errors == 0)
            out.add("  its floor", describe(lowest))
            out.add(f"  {page} against its floor", text, f"<= {ITEMS_FACTOR:g}x",
                    factor <= ITEMS_FACTOR)  # fmt: skip
            off[page] = items.rate
            created = wrk.run(server.base + "/api/v1/items/", 64, seconds, headers,
                              post_json_to=project.parent, server_pid=server.pid,
                              postgres_pid=database.postmaster)  # fmt: skip
            rows = database.count("items") - 20
            # wrk counts the answers it read before its time was up; the requests still in
            # flight then (at most one per connection) may have made their rows too.
            accepted = created.requests - created.errors
            out.add("POST /api/v1/items/ c64", f"{describe(created)}  rows {rows}",
                    "every 201 is a row, 0 errors",
                    created.errors == 0 and accepted <= rows <= accepted + 64)  # fmt: skip
            lowest = wrk.run(floor.base + "/api/v1/items/", 64, seconds, headers,
                             post_json_to=project.parent, server_pid=floor.pid,
                             postgres_pid=database.postmaster)  # fmt: skip
            text, factor, _ = against(created, lowest)
            out.add("  its floor", describe(lowest))
            out.add("  POST /api/v1/items/ against its floor", text, f"<= {ITEMS_FACTOR:g}x",
                    factor <= ITEMS_FACTOR)  # fmt: skip

            if variant.auth:
                idle = asyncio.run(health_alone(server.base))
                form = {"username": "admin@example.com", "password": password}
                logins, beside = asyncio.run(
                    flood_with_probe(
                        server.base,
                        lambda: ("POST", "/api/v1/auth/login", {"data": form}),
                        CONCURRENCY,
                        seconds,
                        "/health",
                    )
                )
                rss = peak_rss_mb(server.pid)
                out.add(f"login flood c{CONCURRENCY}", f"{logins.rate:8.1f} logins/s  "
                        f"p99 {logins.percentile(99):.0f} ms  errors {logins.errors}",
                        "0 errors", logins.errors == 0)  # fmt: skip
                out.add("peak RSS of a server process", f"{rss:.0f} MB",
                        f"<= {RSS_TARGET_MB} MB", rss <= RSS_TARGET_MB)  # fmt: skip
                p99 = beside.percentile(99)
                out.add("/health p99 beside the login flood", f"{p99:.1f} ms "
                        f"(alone {idle.percentile(99):.1f} ms)", f"<= {HEALTH_P99_TARGET_MS} ms",
                        p99 <= HEALTH_P99_TARGET_MS)  # fmt: skip

        with sink() as (collector, received), uvicorn(project, app, {**env, **{
            "SENTRY_DSN": f"http://public@{collector.removeprefix('http://')}/1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
            "METRICS_PORT": str(support.free_port()),
        }}) as server:  # fmt: skip
            for path, rate in off.items():
                run_on = wrk.run(server.base + path, CONCURRENCY, seconds, headers,
                                 server_pid=server.pid)  # fmt: skip
                goal = OPERATIONS_KEPT.get(path)
                of_off = run_on.rate / rate
                out.add(f"{path} c{CONCURRENCY}, operations on", f"{describe(run_on)}  "
                        f"{of_off:.0%} of off", "0 errors" + (f", >= {goal:.0%}" if goal else ""),
                        run_on.errors == 0 and (goal is None or of_off >= goal))  # fmt: skip
            out.add("operations on: sent to the local endpoint", f"{received[0]} posts, "
                    f"{received[1] / 1e6:.1f} MB", "> 0", received[0] > 0)  # fmt: skip


class Database:
    """What the benchmark reads of the measured database: its rows, how many connections
    PostgreSQL has opened to it (`pg_stat_database.sessions`), and the server's process
    (`postmaster`: the parent of this connection's backend, on this machine), through one
    connection of its own, opened first."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True
        )
        self.name = url.rsplit("/", 1)[1]
        row = self.connection.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        stat = Path(f"/proc/{row[0]}/stat").read_text().rpartition(")")[2].split()
        self.postmaster = int(stat[1])

    def count(self, table: str) -> int:
        row = self.connection.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        return row[0] if row else 0

    def sessions(self) -> int:
        # A backend reports its statistics when idle, at most once a second.
        time.sleep(1.5)
        query = "SELECT sessions FROM pg_stat_database WHERE datname = %s"
        row = self.connection.execute(query, (self.name,)).fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        self.connection.close()


@contextlib.contextmanager
def sink() -> Iterator[tuple[str, list[int]]]:
    """A local endpoint for Sentry's envelopes and OTLP's traces: 200 to every POST, as
    theirs answer. Yields its URL and [posts, bytes] received."""
    received = [0, 0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            received[0] += 1
            received[1] += length
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def health_alone(base: str, seconds: float = 2.0) -> Measured:
    stop = asyncio.Event()
    task = asyncio.create_task(probe(base, "/health", stop))
    await asyncio.sleep(seconds)
    stop.set()
    return await task


@contextlib.contextmanager
def bare_server(project: Path, seconds: float, workers: int) -> Iterator[Bare]:
    """The bare FastAPI app, in ``project``'s environment (the same FastAPI and uvicorn)."""
    app_dir = project.parent / "bare"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "bare.py").write_text(BARE_APP)
    app = ["bare:app", "--app-dir", str(app_dir)]
    with uvicorn(project, app, support.clean_env({"WEB_CONCURRENCY": str(workers)})) as server:
        yield Bare(server, seconds)


def copier_copy(template: Path, workdir: Path, out: Results, runs: int = 3) -> None:
    """``copier copy`` of the default project, as a user runs it: a first run, which writes
    the bytecode of copier and what it imports (uv installs without it), then ``runs``
    more, whose median is held to the target."""
    copier = Path(sys.executable).with_name("copier")
    data = [f"--data={key}={value}" for key, value in BASE_ANSWERS.items()]
    timings = []
    for number in range(runs + 1):
        target = workdir / f"copy-{number}"
        started = time.monotonic()
        support.run([copier, "copy", "--trust", "--defaults", "--quiet", *data,
                     str(template), str(target)], cwd=workdir)  # fmt: skip
        timings.append(time.monotonic() - started)
    first, *warm = timings
    median = statistics.median(warm)
    shown = ", ".join(f"{timing:.2f}" for timing in warm)
    out.add(f"copier copy (median of {runs})", f"{median:.2f} s ({shown}; first run {first:.2f} s)",
            f"<= {COPY_TARGET_S} s", median <= COPY_TARGET_S)  # fmt: skip


def suite(out: Results) -> None:
    started = time.monotonic()
    subprocess.run(["uv", "run", "pytest", "-q"], cwd=support.REPO_ROOT, check=False)
    elapsed = time.monotonic() - started
    out.add("template suite (uv run pytest)", f"{elapsed / 60:.1f} min",
            f"<= {SUITE_TARGET_S // 60} min", elapsed <= SUITE_TARGET_S)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("variants", nargs="*", default=DEFAULT_VARIANTS, metavar="VARIANT",
                        help=f"default: {' '.join(DEFAULT_VARIANTS)}")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--suite", action="store_true", help="also time the template suite")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="uvicorn processes of each server (WEB_CONCURRENCY)")  # fmt: skip
    args = parser.parse_args()
    if unknown := set(args.variants) - set(VARIANTS_BY_ID):
        parser.error(f"unknown variants {sorted(unknown)}; known: {sorted(VARIANTS_BY_ID)}")
    if problem := support.postgres_problem() or wrk.missing():
        sys.exit(f"the benchmark cannot run: {problem}")
    out = Results()
    print(f"uvicorn workers: {args.workers}, ENVIRONMENT=production, wrk -t{wrk.THREADS} "
          f"-d{args.seconds:g}s; the bare app measured before and after each variant")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        # The working tree as it is, committed or not (as the template tests render it).
        template = support.snapshot_template(support.REPO_ROOT, Path(tmp) / "template")
        projects = {v: install(template, v, Path(tmp)) for v in args.variants}
        with bare_server(next(iter(projects.values())), args.seconds, args.workers) as bare:
            for variant_id, project in projects.items():
                print(f"\n{variant_id}", flush=True)
                measure(project, variant_id, bare, args.seconds, args.workers, out)
        print()
        copier_copy(template, Path(tmp), out)
    if args.suite:
        suite(out)
    print(f"\n{out.missed} target(s) missed")
    return 1 if out.missed else 0


if __name__ == "__main__":
    sys.exit(main())
