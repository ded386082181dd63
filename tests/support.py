"""Helpers of the template tests: render, run the generated project's tools, services."""

from __future__ import annotations

import glob
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import check_jsonschema
import copier
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# One short token per test session (and xdist worker): part of every database name,
# so that two runs, or two workers, never share a database.
RUN_TOKEN = uuid.uuid4().hex[:8]

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL_PREFIX = "postgresql+psycopg://postgres@127.0.0.1:5432/"
SERVICE_ENV = {
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672//",
}

# Paths of a template checkout that are not part of the template.
_SNAPSHOT_IGNORE = (
    ".git",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "site",
    "*.pyc",
)

TEMPLATE_SYNTAX = ("{{", "{%", "{#")


# ---------------------------------------------------------------------------- rendering


def snapshot_template(source: Path, destination: Path) -> Path:
    """Copy the template's working tree (committed or not) to a plain directory.

    Rendering from a git checkout makes copier clone it at its latest tag (or HEAD, with
    uncommitted changes as a draft commit), once per render. A plain copy renders exactly
    what is on disk, needs no commit, and is cheap. In a git checkout the copy holds what
    git would see (tracked and untracked files, not the ignored ones).
    """
    listed = None
    if (source / ".git").exists() and shutil.which("git"):
        result = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=source,
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            listed = [name for name in result.stdout.decode().split("\0") if name]
    if listed is None:
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*_SNAPSHOT_IGNORE))
        return destination
    for name in listed:
        path = source / name
        if path.is_file():  # a tracked file deleted from the working tree is not copied
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return destination


def render(template: Path, destination: Path, data: Mapping[str, Any], **kwargs: Any) -> Path:
    """Render ``template`` non-interactively; answers not in ``data`` keep their default."""
    copier.run_copy(
        str(template),
        str(destination),
        data=dict(data),
        defaults=True,
        unsafe=True,  # our Jinja extensions need --trust
        quiet=True,
        **kwargs,
    )
    return destination


# Files of a rendered project and the published schemas they must follow (no Docker engine,
# no CI service here: the schemas are what can be checked).
SCHEMAS = {
    "compose.yaml": "vendor.compose-spec",
    ".github/workflows/ci.yml": "vendor.github-workflows",
    ".github/dependabot.yml": "vendor.dependabot",
    ".gitlab-ci.yml": "vendor.gitlab-ci",
    "renovate.json": "vendor.renovate",
}


def check_schemas(project: Path) -> set[str]:
    """Validate the files of ``SCHEMAS`` that ``project`` has; return those it has.

    check-jsonschema's command runs in this process (its start-up, 0.6 s of CPU a file,
    was most of a render's check)."""
    present = {name for name in SCHEMAS if (project / name).is_file()}
    for name in sorted(present):
        output = io.StringIO()
        arguments = ["--builtin-schema", SCHEMAS[name], str(project / name)]
        try:
            with redirect_stdout(output), redirect_stderr(output):
                check_jsonschema.main(arguments)
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
        assert code == 0, f"{name} does not follow {SCHEMAS[name]}:\n{output.getvalue()}"
    return present


def rendered_problems(project: Path) -> list[str]:
    """Leftover template syntax, ``.jinja`` files and empty files in a rendered project."""
    problems: list[str] = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if ".git" in relative.parts or not path.is_file():
            continue
        if path.name.endswith(".jinja"):
            problems.append(f"{relative}: still ends in .jinja")
        content = path.read_bytes()
        if not content.strip() and path.name != "__init__.py":
            problems.append(f"{relative}: empty after rendering")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary file
        for number, line in enumerate(text.splitlines(), start=1):
            for marker in TEMPLATE_SYNTAX:
                if marker in line and not _allowed_syntax(relative, line):
                    problems.append(f"{relative}:{number}: leftover {marker!r}: {line.strip()}")
    return problems


def _allowed_syntax(relative: Path, line: str) -> bool:
    """Template syntax that belongs in the rendered output, not left over by mistake."""
    # GitHub Actions expressions are rendered from {% raw %} blocks on purpose.
    return ".github" in relative.parts and "${{" in line and "{%" not in line


# ------------------------------------------------------------------------ interpreters


def find_python(version: str) -> Path | None:
    """The newest interpreter for ``version`` ("3.12"): pyenv first, then anything uv finds.

    uv does not look into pyenv's versions by itself; without a pyenv, ``uv python find``
    still sees system and uv-managed interpreters (``uv python install``), never downloads.
    """
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = glob.glob(
        str(pyenv_root / "versions" / f"{version}.*" / "bin" / f"python{version}")
    )
    candidates.sort(
        key=lambda path: [
            int(part) for part in Path(path).parts[-3].split(".")[:3] if part.isdigit()
        ]
    )
    for candidate in reversed(candidates):
        if _python_version(candidate) == version:
            return Path(candidate)
    uv = shutil.which("uv")
    if uv is not None:
        found = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", "--system", version],
            capture_output=True,
            text=True,
            check=False,
            env=clean_env(),
        )
        path = found.stdout.strip()
        if found.returncode == 0 and path and _python_version(path) == version:
            return Path(path)
    return None


def _python_version(executable: str) -> str | None:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# ------------------------------------------------------------------------- processes


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a generated project's tools: ours, minus what would leak in.

    The template tests run in the template repo's own virtualenv and maybe in an xdist
    worker; the generated project must see neither.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"}
        and not key.startswith(("PYTEST_", "UV_RUN_"))
        and key != "COV_CORE_SOURCE"
        # A project's processes import FastAPI, SQLAlchemy, pydantic... each time: without
        # the bytecode cache each one compiles them again (measured: 6.6 s against 2.2 s).
        and key != "PYTHONDONTWRITEBYTECODE"
    }
    # The template repo's .venv/bin comes first on PATH under `uv run`; take it out.
    venv_bin = str(Path(sys.prefix) / "bin")
    if sys.prefix != sys.base_prefix:
        env["PATH"] = os.pathsep.join(
            part for part in env.get("PATH", "").split(os.pathsep) if part != venv_bin
        )
    env.update(SERVICE_ENV)
    env.setdefault("UV_NO_PROGRESS", "1")
    if extra:
        env.update(extra)
    return env


def run(
    command: Sequence[str | Path],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    what: str | None = None,
    *,
    expect_failure: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd``; fail the test with its output if it does not exit 0 (or,
    with ``expect_failure``, if it does)."""
    args = [str(part) for part in command]
    shown = what or " ".join(args)
    print(f"$ {shown}  (in {cwd})", flush=True)
    started = time.monotonic()
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"`{shown}` timed out after {timeout:.0f} s\n{_decode(exc.stdout)}"
            f"{_decode(exc.stderr)}",
            pytrace=False,
        )
    print(f"  -> exit {result.returncode} in {time.monotonic() - started:.1f} s", flush=True)
    if expect_failure and result.returncode == 0:
        pytest.fail(f"`{shown}` exited 0 in {cwd}, and should have failed", pytrace=False)
    if result.returncode != 0 and not expect_failure:
        pytest.fail(
            f"`{shown}` exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{_tail(result.stdout)}\n--- stderr ---\n{_tail(result.stderr)}",
            pytrace=False,
        )
    return result


def _decode(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _tail(text: str, lines: int = 200) -> str:
    parts = text.splitlines()
    if len(parts) <= lines:
        return text
    return "\n".join([f"[... {len(parts) - lines} lines cut ...]", *parts[-lines:]])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------- services


def postgres_problem() -> str | None:
    """Why PostgreSQL on 127.0.0.1:5432 cannot be used, or None."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any reason is a reason to skip (or fail in CI)
        return f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}"
    return None


def _tcp_problem(service: str, port: int, greeting: bytes, answer_prefix: bytes) -> str | None:
    """Send ``greeting`` to 127.0.0.1:``port``; why ``service`` cannot be used, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(greeting)
            answer = sock.recv(64)
    except OSError as exc:
        return f"{service} is not reachable at 127.0.0.1:{port}: {exc}"
    if not answer.startswith(answer_prefix):
        return f"{service} at 127.0.0.1:{port} answered {answer!r} to {greeting!r}"
    return None


def redis_problem() -> str | None:
    return _tcp_problem("Redis", 6379, b"PING\r\n", b"+PONG")


def rabbitmq_problem() -> str | None:
    # The AMQP 0-9-1 protocol header; a broker answers with a method frame (connection.start).
    return _tcp_problem("RabbitMQ", 5672, b"AMQP\x00\x00\x09\x01", b"\x01")


def database_name(*parts: str) -> str:
    """A database name unique to this run: ``tt_<token>_<parts>`` (max 63 chars)."""
    name = "_".join(["tt", RUN_TOKEN, *parts]).replace("-", "_").replace(".", "")
    return name[:63]


def database_url(name: str) -> str:
    return DATABASE_URL_PREFIX + name


def drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    drop_database(name)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def temporary_database(name: str) -> Iterator[str]:
    """Create a fresh database, yield its SQLAlchemy URL, drop it afterwards."""
    create_database(name)
    try:
        yield database_url(name)
    finally:
        drop_database(name)
