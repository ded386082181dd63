"""The benchmark: ``uv run python -m tests.bench`` (docs/performance.md says what it shows).

It renders each variant it measures, installs it, and serves it as production does: one
uvicorn worker, ``ENVIRONMENT=production``, on a fresh database the prestart script migrated.
Beside them, a bare FastAPI app with the same FastAPI and uvicorn gives the reference.

Measured now: the login flood (c32 on ``/api/v1/auth/login`` with the right password), its
rate and latencies, the server's peak RSS, and ``/health``'s p99 measured beside the flood,
against the targets RSS <= 300 MB and p99 <= 50 ms. Needs PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests import support
from tests.bench.load import Measured, flood_with_probe, probe
from tests.variants import PACKAGE_NAME, VARIANTS_BY_ID

DEFAULT_VARIANTS = ["async-auth-none", "sync-auth-none"]
CONCURRENCY = 32
RSS_TARGET_MB = 300
HEALTH_P99_TARGET_MS = 50
BARE_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
"""


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


@contextlib.contextmanager
def uvicorn(project: Path, app: list[str], env: Mapping[str, str]) -> Iterator[tuple[str, int]]:
    """One uvicorn worker of ``project``'s environment (its own process: RSS is its own)."""
    port = support.free_port()
    command = [str(project / ".venv/bin/python"), "-m", "uvicorn", *app,
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]  # fmt: skip
    log = (project.parent / "uvicorn.log").open("w")
    process = subprocess.Popen(command, cwd=project, env=dict(env), stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health").status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start:\n{log.name}")
            time.sleep(0.1)
        with httpx.Client(base_url=base) as client:  # warm up: first requests are slower
            for _ in range(50):
                client.get("/health")
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def install(template: Path, variant_id: str, workdir: Path) -> Path:
    project = workdir / variant_id / "project"
    support.render(template, project, VARIANTS_BY_ID[variant_id].answers)
    python = support.find_python("3.12") or sys.executable
    support.run(["uv", "sync", "--no-dev", "--python", python], cwd=project)
    return project


@dataclass
class Served:
    """A server's ``/health`` latencies alone, and its peak RSS (MB)."""

    idle: Measured
    rss_mb: float


@dataclass
class LoginFlood(Served):
    logins: Measured
    health: Measured  # beside the flood


def login_flood(project: Path, seconds: float) -> LoginFlood:
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
                # The flood comes from one address: measure hashing, not the throttle.
                "LOGIN_ATTEMPTS_PER_ADDRESS": "1000000/minute",
            }
        )
        python = str(project / ".venv/bin/python")
        support.run([python, "-m", f"{PACKAGE_NAME}.prestart"], cwd=project, env=env)
        app = [f"{PACKAGE_NAME}.main:create_app", "--factory"]
        with uvicorn(project, app, env) as (base, pid):
            idle = asyncio.run(health_alone(base))
            form = {"username": "admin@example.com", "password": password}
            logins, health = asyncio.run(
                flood_with_probe(
                    base,
                    lambda: ("POST", "/api/v1/auth/login", {"data": form}),
                    CONCURRENCY,
                    seconds,
                    "/health",
                )
            )
            return LoginFlood(idle, peak_rss_mb(pid), logins, health)


async def health_alone(base: str, seconds: float = 2.0) -> Measured:
    stop = asyncio.Event()
    task = asyncio.create_task(probe(base, "/health", stop))
    await asyncio.sleep(seconds)
    stop.set()
    return await task


def bare(project: Path) -> Served:
    """The bare FastAPI app, in ``project``'s environment: ``/health`` alone, and its RSS."""
    app_dir = project.parent / "bare"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "bare.py").write_text(BARE_APP)
    with uvicorn(project, ["bare:app", "--app-dir", str(app_dir)], support.clean_env()) as (
        base,
        pid,
    ):
        return Served(asyncio.run(health_alone(base)), peak_rss_mb(pid))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(results: dict[str, LoginFlood], reference: Served) -> int:
    """Print the table; the number of targets missed."""
    print()
    print(f"login flood: c{CONCURRENCY}, one uvicorn worker, ENVIRONMENT=production")
    print(f"bare FastAPI: /health p99 {reference.idle.percentile(99):.1f} ms alone, "
          f"RSS {reference.rss_mb:.0f} MB")  # fmt: skip
    header = ("variant", "logins/s", "p50 ms", "p99 ms", "errors", "peak RSS MB",
              "/health p99 idle", "/health p99 beside", "targets")  # fmt: skip
    print(("{:<18}" + "{:>12}" * 5 + "{:>20}" * 2 + "  {}").format(*header))
    missed = 0
    for variant_id, result in results.items():
        logins, health, idle, rss = result.logins, result.health, result.idle, result.rss_mb
        p99 = health.percentile(99)
        misses = [rss > RSS_TARGET_MB, p99 > HEALTH_P99_TARGET_MS, logins.errors > 0]
        missed += sum(misses)
        targets = (f"RSS <= {RSS_TARGET_MB}: {verdict(not misses[0])}, "
                   f"p99 <= {HEALTH_P99_TARGET_MS}: {verdict(not misses[1])}, "
                   f"no errors: {verdict(not misses[2])}")  # fmt: skip
        row = (variant_id, f"{logins.rate:.1f}", f"{logins.percentile(50):.0f}",
               f"{logins.percentile(99):.0f}", logins.errors, f"{rss:.0f}",
               f"{idle.percentile(99):.1f}", f"{p99:.1f}", targets)  # fmt: skip
        print(("{:<18}" + "{:>12}" * 5 + "{:>20}" * 2 + "  {}").format(*row))
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("variants", nargs="*", default=DEFAULT_VARIANTS, metavar="VARIANT",
                        help=f"default: {' '.join(DEFAULT_VARIANTS)}")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each flood")
    args = parser.parse_args()
    if unknown := set(args.variants) - set(VARIANTS_BY_ID):
        parser.error(f"unknown variants {sorted(unknown)}; known: {sorted(VARIANTS_BY_ID)}")
    if problem := support.postgres_problem():
        sys.exit(f"the benchmark needs PostgreSQL: {problem}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        # The working tree as it is, committed or not (as the template tests render it).
        template = support.snapshot_template(support.REPO_ROOT, Path(tmp) / "template")
        results = {}
        reference = None
        for variant_id in args.variants:
            project = install(template, variant_id, Path(tmp))
            if reference is None:
                reference = bare(project)
            print(f"flooding {variant_id} ...", flush=True)
            results[variant_id] = login_flood(project, args.seconds)
        assert reference is not None, "no variant measured"
        missed = report(results, reference)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
