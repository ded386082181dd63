"""Every supported variant, stage by stage: render, environment, ruff, mypy, its own pytest,
alembic, serve (and with a worker, a job round trip through a real worker), guide.

A variant is rendered once (module-scoped fixture, parametrized by variant): pytest runs all
stages of one variant before the next variant, and ``xdist_group`` keeps them on one xdist
worker, in order. A stage whose prerequisite failed errors at once with the reason.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests import served, support
from tests.scenarios import CHECKS, deselected, own_test_files
from tests.variants import PACKAGE_NAME, PYTHON_VERSIONS, VARIANTS, VARIANTS_BY_ID, Variant

WORKER_TIMEOUT = 60.0  # seconds until an enqueued job must be finished
BODY_TIMEOUT = 2  # seconds the served API waits for a request's body (REQUEST_BODY_TIMEOUT)

pytestmark = [pytest.mark.variant]


@dataclass
class Rendered:
    variant: Variant
    path: Path
    error: BaseException | None = None


# What each variant runs beyond the stages every one runs: tests/scenarios.py's table.
GUIDE_VARIANTS = [VARIANTS_BY_ID[id] for id in CHECKS["guide"].variants]
TASK_GUIDE_VARIANTS = [VARIANTS_BY_ID[id] for id in CHECKS["task_guide"].variants]
assert TASK_GUIDE_VARIANTS[: len(GUIDE_VARIANTS)] == GUIDE_VARIANTS, "see STAGE_VARIANTS"
FUZZ_EXAMPLES = 15
# Worker variants first: they are the slowest (better spread over xdist workers). The guides'
# variants are a prefix of this list, so each variant keeps one parameter index in every
# stage, and pytest keeps its stages together and in order.
STAGE_VARIANTS = TASK_GUIDE_VARIANTS + sorted(
    (variant for variant in VARIANTS if variant not in TASK_GUIDE_VARIANTS),
    key=lambda variant: variant.worker == "none",
)


# Every stage is parametrized by variant this way: module scope makes pytest run all stages
# of one variant before the next (and render it once); the mark keeps them on one worker.
each_variant = pytest.mark.parametrize(
    "rendered",
    [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in STAGE_VARIANTS],
    indirect=True,
    scope="module",
)


@pytest.fixture(scope="module")
def rendered(
    request: pytest.FixtureRequest, template_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rendered]:
    """The variant, rendered once; a render error is kept for ``test_render`` to report."""
    variant: Variant = request.param
    path = tmp_path_factory.mktemp(variant.id) / "project"
    try:
        support.render(template_root, path, variant.answers)
    except Exception as exc:  # reported by test_render, turned into errors by the others
        yield Rendered(variant, path, exc)
    else:
        yield Rendered(variant, path)
    # Only one variant's project (with its .venv) is on disk at a time per worker.
    if not request.config.getoption("keep_copied_projects"):
        shutil.rmtree(path.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def project(rendered: Rendered) -> Path:
    if rendered.error is not None:
        pytest.fail(f"{rendered.variant.id} did not render: {rendered.error}", pytrace=False)
    return rendered.path


@pytest.fixture
def services(request: pytest.FixtureRequest, rendered: Rendered) -> dict[str, str]:
    """The services this variant's project needs (``Variant.services``), checked reachable
    (else skip, or fail in CI)."""
    return {name: request.getfixturevalue(name) for name in rendered.variant.services}


@pytest.fixture(scope="module")
def python(rendered: Rendered) -> Path:
    """The interpreter of the variant's python_version (3.12 for most, tests/variants.py)."""
    version = rendered.variant.python_version
    python = support.find_python(version)
    if python is None:
        pytest.skip(
            f"Python {version} not found: looked in $PYENV_ROOT/versions/{version}.* and with "
            f"`uv python find {version}`. Install it (pyenv install {version}, or "
            f"uv python install {version})."
        )
    return python


@pytest.fixture(scope="module")
def environment(project: Path, python: Path) -> Path:
    """``uv sync``: the project's own dependencies plus its dev group, in ``project/.venv``.

    uv's default (shared) cache makes the 2nd and later variants link instead of download.
    """
    support.run(["uv", "sync", "--python", python, "--group", "dev"], cwd=project)
    return project


def uv_run(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``uv run --no-sync ...``: the environment exists; never re-resolve."""
    return support.run(["uv", "run", "--no-sync", *args], cwd=project, env=env)


# ---------------------------------------------------------------------------- stages


@each_variant
def test_render(rendered: Rendered) -> None:
    """a. copier exits 0; no leftover template syntax, no ``.jinja`` file, no empty file."""
    if rendered.error is not None:
        pytest.fail(f"copier failed for {rendered.variant.id}: {rendered.error!r}", pytrace=False)
    problems = support.rendered_problems(rendered.path)
    assert not problems, "\n".join(problems)
    assert (rendered.path / PACKAGE_NAME / "main.py").is_file()
    assert (rendered.path / ".copier-answers.yml").is_file()
    checked = support.check_schemas(rendered.path)
    assert {"compose.yaml", ".github/workflows/ci.yml", ".github/dependabot.yml"} <= checked
    # core/ is the ground floor (docs/architecture.md), not where the code piles up.
    lines = {
        path: len(path.read_text(encoding="utf-8").splitlines())
        for path in (rendered.path / PACKAGE_NAME).rglob("*.py")
    }
    core = sum(count for path, count in lines.items() if path.parent.name == "core")
    assert core * 4 <= sum(lines.values()), f"core/ holds {core} of {sum(lines.values())} lines"
    _check_python_version(rendered.path, rendered.variant.python_version)
    _check_makefile(rendered)


def _check_python_version(project: Path, version: str) -> None:
    """The project states its python_version wherever a tool reads it, and no other."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert pyproject["tool"]["mypy"]["python_version"] == version
    assert (project / ".python-version").read_text(encoding="utf-8").strip() == version
    # Wherever else the project spells out a Python version (images, CI), it is this one.
    for path in [project / "Dockerfile", *project.glob(".github/workflows/*.yml")]:
        text = path.read_text(encoding="utf-8")
        assert version in text, f"{path.name} does not name Python {version}"
        for other in set(PYTHON_VERSIONS) - {version}:
            assert not re.search(rf"\b{re.escape(other)}\b", text), f"{path.name} names {other}"


def _check_makefile(rendered: Rendered) -> None:
    """The Makefile's commands are the ones the stages run (ruff, mypy and pytest; prestart
    and the worker in serve), `make` lists every one, and every `make X` in the README is
    one of them."""
    project, variant = rendered.path, rendered.variant

    def lines(target: str) -> list[str]:
        # UV names uv's own path inside `uv run` (as here); a developer's make says `uv`.
        return support.run(["make", "-n", target, "UV=uv"], cwd=project).stdout.splitlines()

    assert lines("lint") == ["uv run ruff check .", "uv run ruff format --check .", "uv run mypy ."]
    assert lines("test") == ["uv run pytest"]
    migrate = f"uv run python -m {PACKAGE_NAME}.prestart"
    assert lines("migrate") == [migrate]
    serve = f"uv run uvicorn {PACKAGE_NAME}.main:create_app --factory --reload"
    assert lines("dev") == [migrate, serve]
    if variant.worker != "none":
        assert lines("worker") == [" ".join(["uv", "run", *variant.worker_command()])]
    listed = set(re.findall(r"^  make (\w+)", support.run(["make"], cwd=project).stdout, re.M))
    phony = re.search(r"^\.PHONY: (.*)$", (project / "Makefile").read_text(), re.M)
    assert phony is not None
    assert listed == set(phony[1].split()), listed
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"(?:^|`)make ([a-z]+)", readme, re.M)) <= listed


@each_variant
def test_environment(environment: Path, rendered: Rendered) -> None:
    """b. ``uv sync`` builds the environment with the variant's Python (the fixture does the
    work): 3.12, or the other python_version choice tests/variants.py gives it."""
    version = rendered.variant.python_version
    out = uv_run(environment, "python", "-c", "import sys; print(sys.version_info[:2])")
    assert out.stdout.strip() == str(tuple(int(p) for p in version.split(".")))


@each_variant
def test_ruff(environment: Path, rendered: Rendered) -> None:
    """c. ``ruff check`` and ``ruff format --check`` are clean."""
    uv_run(environment, "ruff", "check", ".")
    uv_run(environment, "ruff", "format", "--check", ".")


@pytest.fixture(scope="session")
def mypy_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every xdist worker, kept across runs in pytest's cache
    (``.pytest_cache``, cleared by ``--cache-clear``), else in the run's temporary folder.

    Measured: a cold ``mypy .`` costs ~20 s of CPU, 3 to 7 s once the cache holds fastapi,
    pydantic and sqlalchemy from another variant (mypy validates every entry by hash, so
    variants may share it; a folder per interpreter version is mypy's own). One cache for
    the run builds it cold once per interpreter, not once per xdist worker; ``mypy_run``
    lets one mypy at a time write it.
    """
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        path: Path = cache.mkdir("mypy")
        return path
    # Under xdist, each worker's base folder is in the run's own.
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared
    path = shared / "mypy-cache"
    path.mkdir(exist_ok=True)
    return path


@contextmanager
def mypy_run(cache: Path) -> Iterator[None]:
    """Holds the cache's lock: the mypy processes of the xdist workers take turns."""
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@each_variant
def test_mypy(environment: Path, rendered: Rendered, mypy_cache: Path) -> None:
    """d. ``mypy .`` with the project's own configuration is clean."""
    with mypy_run(mypy_cache):
        uv_run(environment, "mypy", ".", env=support.clean_env({"MYPY_CACHE_DIR": str(mypy_cache)}))


@each_variant
def test_pytest(
    environment: Path, services: dict[str, str], rendered: Rendered, template_root: Path
) -> None:
    """e. The project's own suite passes against real services.

    The project's suite creates its database from DATABASE_URL; the name is unique to this
    run and variant, and dropped afterwards. A worker variant runs the test files that read
    differently from its ``worker=none`` sibling's: the others, the same text on the same
    code, pass in the sibling's own run. The outage tests run on the variants that
    tests/scenarios.py names for them.
    """
    files = _files_of_its_own(rendered.variant, environment, template_root)
    files += [f"--deselect={test}" for test in deselected(rendered.variant)]
    name = support.database_name(rendered.variant.id, "pytest")
    env = support.clean_env({"DATABASE_URL": support.database_url(name)})
    try:
        result = uv_run(
            environment, "pytest", "-q", "-rs", "-p", "no:cacheprovider", *files, env=env
        )
    finally:
        support.drop_database(name)
    # A test the project skipped was not run: report it as this stage's skip (a failure in CI).
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    if skipped:
        pytest.skip("the project's suite skipped tests:\n" + "\n".join(skipped))


def _files_of_its_own(variant: Variant, project: Path, template_root: Path) -> list[str]:
    """The test files of a worker variant that its ``worker=none`` sibling lacks or renders
    differently (tests/scenarios.py renders both in-process); none (the whole suite) for a
    variant without a worker."""
    if variant.worker == "none":
        return []
    own = own_test_files(variant, template_root)
    rendered = {str(path.relative_to(project)) for path in project.glob("tests/**/test_*.py")}
    assert set(own) <= rendered, set(own) - rendered
    assert any("test_jobs" in file for file in own), own
    return own


# One interpreter for the three commands: each would import the project again.
ALEMBIC_ROUND_TRIP = """
from alembic import command
from alembic.config import Config

config = Config("alembic.ini")
command.upgrade(config, "heads")
command.check(config)
command.downgrade(config, "base")
"""


@each_variant
def test_alembic(environment: Path, services: dict[str, str], rendered: Rendered) -> None:
    """f. Fresh database: ``upgrade heads``, ``check`` (no drift), ``downgrade base``."""
    with support.temporary_database(support.database_name(rendered.variant.id, "alembic")) as url:
        env = support.clean_env({"DATABASE_URL": url})
        uv_run(environment, "python", "-c", ALEMBIC_ROUND_TRIP, env=env)


@each_variant
def test_serve(
    environment: Path, services: dict[str, str], rendered: Rendered, mypy_cache: Path
) -> None:
    """g. Served as in production: the prestart script migrates (and creates the first
    superuser), a real uvicorn started as the Dockerfile starts it answers ``/health``,
    ``/health/ready`` and the docs, with security headers and no server banner (and no
    ``/metrics``: the operations settings are empty); with auth,
    the account lifecycle and organizations hold (``_account_lifecycle``,
    ``_organizations``); with a worker, a job enqueued over HTTP is processed by the real
    worker process; where tests/scenarios.py says, schemathesis finds no 5xx and nothing the schema
    does not document (``_fuzz``)."""
    variant = rendered.variant
    with support.temporary_database(support.database_name(variant.id, "serve")) as url:
        env = support.clean_env(
            {
                "DATABASE_URL": url,
                # A queue of this run's own on the shared broker.
                "JOB_QUEUE": support.database_name(variant.id, "queue"),
                "JOB_RETRY_DELAY": "0",
                # This one client plays every user: its address gets the allowances of many
                # (the accounts' own allowances stay as they are).
                "LOGIN_ATTEMPTS_PER_ADDRESS": "1000/minute",
                "REGISTRATIONS_PER_ADDRESS": "1000/minute",
                "PASSWORD_RECOVERY_PER_ADDRESS": "1000/minute",
                # For _hostile_client's body that never ends.
                "REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT),
            }
        )
        if variant.auth and variant.worker != "none":
            # Only the lifecycle checks below need production's argon2id cost; elsewhere a hash
            # (each registration and login of the fuzz) need not take a quarter of a second.
            env |= {"PASSWORD_HASH_MEMORY_KIB": "1024", "PASSWORD_HASH_ROUNDS": "1"}
        worker = None
        if variant.worker != "none":
            # The worker's command as the README gives it; it reads REDIS_URL and JOB_QUEUE.
            worker = variant.worker_command()
            if variant.worker == "celery":
                # Two celery workers on one broker need distinct names (other runs may be up).
                worker.append(f"--hostname={support.database_name(variant.id)}@%h")
        prestart = ["python", "-m", f"{PACKAGE_NAME}.prestart"]
        with (
            served.smtp_server() as (mailbox, smtp),
            served.serve(
                environment, env | smtp, worker, lambda: uv_run(environment, *prestart, env=env)
            ) as server,
        ):
            for path in ("/health/ready", "/api/v1/docs"):
                assert server.status(path) == 200, f"{path}{server.output()}"
            _, headers, _ = server.exchange("GET", "/health")
            assert "server" not in headers, "the server banner is announced"
            assert headers["x-content-type-options"] == "nosniff"
            # No operations setting is set: the metrics are not on the public port.
            assert server.status("/metrics") == 404
            if CHECKS["hostile_client"].runs_on(variant):
                _hostile_client(server)
            if CHECKS["accounts_served"].runs_on(variant):
                _account_lifecycle(server)
                _organizations(server, mailbox)
            if variant.worker != "none":
                state = _round_trip(server, variant.auth)
                logs = (environment.parent / "worker.log").read_text(errors="replace")
                assert state.get("status") == "finished", f"job: {state}\n--- worker ---\n{logs}"
                assert "round-trip" in str(state.get("result")), state
            token = _superuser_token(server, environment) if variant.auth else None
            if CHECKS["client"].runs_on(variant):
                _client(server, environment, token or "none", mypy_cache)
            # Last: the fuzz enqueues jobs of its own (some long) that keep the worker busy.
            if CHECKS["fuzz"].runs_on(variant):
                _fuzz(server, environment, token)


def _hostile_client(server: served.Server) -> None:
    """What a client may send a server that runs as the Dockerfile runs it: a header of a
    megabyte is refused, a body that never ends is answered 408 within REQUEST_BODY_TIMEOUT,
    and a forwarded scheme (or address) from a peer that FORWARDED_ALLOW_IPS does not list
    is ignored. The code is the same in every variant: the worker-less ones run this."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2**20 + b"\r\n\r\n")
        answer = sock.recv(64)
    assert answer.split()[1] in (b"400", b"431"), answer

    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = b"POST /api/v1/items/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Content-Length: 100\r\n\r\n{")
        answer = sock.recv(64)
    assert answer.split()[1] == b"408", answer
    assert time.monotonic() - started < BODY_TIMEOUT + 5

    # The redirect to the slashed path names the scheme the app believes (urllib would
    # follow it: http.client does not).
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/api/v1/items", headers=forwarded)
        response = connection.getresponse()
        location = response.getheader("location") or ""
    finally:
        connection.close()
    assert (response.status, location.split(":")[0]) == (307, "http"), location


def _account_lifecycle(server: served.Server) -> None:
    """The issue's checks against a running server, with production's password hashing.

    The account code is the same whatever the worker: the two worker-less auth variants
    (one per db_mode) run this; the others register and log in for their round trip.
    """
    email = "race@example.com"
    user = {"email": email, "password": served.PASSWORD, "full_name": "Race"}
    with ThreadPoolExecutor(max_workers=20) as pool:
        register = partial(server.request, "POST", "/api/v1/auth/register", json_body=user)
        statuses = sorted(status for status, _ in pool.map(lambda _: register(), range(20)))
    assert statuses == [201] + [409] * 19, statuses

    def me(tokens: dict[str, Any]) -> int:
        return server.request("GET", "/api/v1/users/me", served.bearer(tokens))[0]

    def refresh(tokens: dict[str, Any]) -> tuple[int, Any]:
        body = {"refresh_token": tokens["refresh_token"]}
        return server.request("POST", "/api/v1/auth/refresh", json_body=body)

    # A password change: the access tokens issued before it are refused.
    before = server.tokens(email)
    change = {"current_password": served.PASSWORD, "new_password": "another long password"}
    path = "/api/v1/users/me/password"
    status, body = server.request("POST", path, served.bearer(before), json_body=change)
    assert (status, me(before)) == (204, 401), body
    password = change["new_password"]

    # Logout: the login's access token stops at once.
    tokens = server.tokens(email, password)
    body = {"refresh_token": tokens["refresh_token"]}
    assert server.request("POST", "/api/v1/auth/logout", json_body=body)[0] == 204
    assert me(tokens) == 401

    # A spent refresh token again: 401, and its family is revoked, the newest pair included.
    first = server.tokens(email, password)
    status, second = refresh(first)
    assert (status, me(second)) == (200, 200)
    assert refresh(first)[0] == 401
    assert (me(second), refresh(second)[0]) == (401, 401)

    # Twenty guesses at once for another account: the allowance (five) is checked, the
    # others are 429 before any hashing, and then the right password waits too.
    burst = "burst@example.com"
    account = {"email": burst, "password": served.PASSWORD, "full_name": "Burst"}
    assert server.request("POST", "/api/v1/auth/register", json_body=account)[0] == 201
    guesses = [{"username": burst, "password": f"guess {n}"} for n in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        login = partial(server.request, "POST", "/api/v1/auth/login")
        statuses = sorted(status for status, _ in pool.map(lambda g: login(form=g), guesses))
    assert statuses == [401] * 5 + [429] * 15, statuses
    right = {"username": burst, "password": served.PASSWORD}
    assert server.request("POST", "/api/v1/auth/login", form=right)[0] == 429

    # Five wrong passwords in a row are 401; the sixth is 429, before any hashing.
    wrong = {"username": email, "password": "not the password"}
    statuses = [server.request("POST", "/api/v1/auth/login", form=wrong)[0] for _ in range(6)]
    assert statuses == [401] * 5 + [429], statuses
    status, headers, _ = server.exchange("POST", "/api/v1/auth/login", form=wrong)
    assert (status, int(headers["retry-after"]) > 0) == (429, True)
    assert headers["content-type"] == "application/problem+json"


def _organizations(server: served.Server, mailbox: served.Mailbox) -> None:
    """The issue's check of organizations against a running server: A's item is A's alone,
    until A invites B by email and B accepts with the token the email brought."""
    a = server.register_and_login("owner-a@example.com")
    b = server.register_and_login("member-b@example.com")
    status, item = server.request("POST", "/api/v1/items/", a, json_body={"title": "A's"})
    assert status == 201, item
    org_id = item["org_id"]
    url = f"/api/v1/items/{item['id']}"
    org_items = f"/api/v1/orgs/{org_id}/items/"
    assert server.request("GET", url, b)[0] == 404
    assert server.request("PATCH", url, b, json_body={"title": "B's"})[0] == 404
    assert server.request("DELETE", url, b)[0] == 404
    assert server.request("GET", "/api/v1/items/", b)[1]["total"] == 0
    assert server.request("GET", org_items, b)[0] == 404

    invitation = {"email": "member-b@example.com", "role": "member"}
    path = f"/api/v1/orgs/{org_id}/invitations"
    assert server.request("POST", path, a, json_body=invitation)[0] == 201
    token = mailbox.token_for("member-b@example.com", subject="invitation")
    accept = "/api/v1/invitations/accept"
    # Only a confirmed address accepts an invitation to it.
    assert server.request("POST", accept, b, json_body={"token": token})[0] == 403
    confirm = {"token": mailbox.token_for("member-b@example.com", subject="Confirm your email")}
    assert server.request("POST", "/api/v1/auth/verify-email", json_body=confirm)[0] == 204
    status, org = server.request("POST", accept, b, json_body={"token": token})
    assert (status, org["id"], org["role"]) == (200, org_id, "member"), org
    status, page = server.request("GET", org_items, b)
    assert (status, [i["title"] for i in page["items"]]) == (200, ["A's"]), page


def _superuser_token(server: served.Server, project: Path) -> str:
    """An access token of the first superuser, whom prestart created from ``.env``."""
    dotenv = dict(
        line.split("=", 1)
        for line in (project / ".env").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )
    tokens = server.tokens(dotenv["FIRST_SUPERUSER_EMAIL"], dotenv["FIRST_SUPERUSER_PASSWORD"])
    return str(tokens["access_token"])


def _client(server: served.Server, project: Path, token: str, mypy_cache: Path) -> None:
    """A typed client generated from the served schema by openapi-python-client, with no
    warning; mypy --strict passes on it and on tests/client_use.py, which then runs against
    the server: every answer parses into the model the schema promises."""
    folder = project.parent / "client"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    schema = folder / "openapi.json"
    schema.write_text(json.dumps(server.request("GET", "/api/v1/openapi.json")[1]))
    generated = support.run(
        [
            Path(sys.executable).with_name("openapi-python-client"),
            "generate",
            f"--path={schema}",
            "--meta=none",
            f"--output-path={folder / f'{PACKAGE_NAME}_client'}",
        ],
        cwd=folder,
        env=dict(os.environ),
    )
    assert "warning" not in (generated.stdout + generated.stderr).lower(), generated.stdout
    use = shutil.copy(support.REPO_ROOT / "tests" / "client_use.py", folder)
    config = support.REPO_ROOT / "tests" / "client_mypy.ini"
    mypy = [sys.executable, "-m", "mypy", f"--config-file={config}"]
    with mypy_run(mypy_cache):
        cache = f"--cache-dir={mypy_cache / 'client'}"
        support.run([*mypy, cache, use, f"{PACKAGE_NAME}_client"], cwd=folder, env=dict(os.environ))
    support.run([sys.executable, use, server.base, token], cwd=folder, env=dict(os.environ))


def _fuzz(server: served.Server, project: Path, token: str | None) -> None:
    """schemathesis, every check of its, on every operation of the served OpenAPI schema
    (with auth, as the first superuser, so that admin routes are reached too): no answer is
    a 5xx, every answer has a status, content type, body and headers that the schema
    documents, and every request the schema allows is taken (tests/schemathesis.toml says
    what "taken" means here). The seed is fixed, so a failure reproduces; ``FUZZ_SEED``
    picks another."""
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    schemathesis = Path(sys.executable).with_name("schemathesis")
    support.run(
        [
            schemathesis,
            f"--config-file={support.REPO_ROOT / 'tests' / 'schemathesis.toml'}",
            "run",
            f"{server.base}/api/v1/openapi.json",
            *headers,
            "--checks=all",
            f"--max-examples={FUZZ_EXAMPLES}",
            f"--seed={os.environ.get('FUZZ_SEED', '20261123')}",
            "--generation-database=none",
            "--no-color",
        ],
        cwd=project.parent,
        env=support.clean_env(),
        timeout=300,
    )


def _round_trip(server: served.Server, auth: bool) -> dict[str, Any]:
    """Enqueue the example job over HTTP and wait until the worker has finished (or failed) it."""
    headers = server.register_and_login("worker@example.com") if auth else {}
    status, job = server.request("POST", "/api/v1/jobs/example?name=round-trip&duration=0", headers)
    assert status == 202, (status, job)
    deadline = time.monotonic() + WORKER_TIMEOUT
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = server.request("GET", f"/api/v1/jobs/{job['job_id']}/status", headers)[1]
        if state["status"] in {"finished", "failed"}:
            break
        time.sleep(0.25)
    return state


each_guide_variant = pytest.mark.parametrize(
    "rendered",
    [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in GUIDE_VARIANTS],
    indirect=True,
    scope="module",
)


@each_guide_variant
def test_guide(
    environment: Path, services: dict[str, str], rendered: Rendered, mypy_cache: Path
) -> None:
    """i. The generated README's "Adding a resource", step by step: a `Project` copied from
    the `Item` sample; then the project's checks pass with it."""
    package = environment / PACKAGE_NAME
    # 1. Model, imported in models/custom.py and named in its __all__.
    _copy_renamed(package / "models" / "item.py", package / "models" / "project.py")
    models = package / "models" / "custom.py"
    text = models.read_text(encoding="utf-8").replace(
        "__all__: list[str] = []\n",
        f'from {PACKAGE_NAME}.models.project import Project\n\n__all__ = ["Project"]\n',
    )
    models.write_text(text, encoding="utf-8")
    # 3. Schemas, 4. service, 5. routes (mounted next to items), 6. tests.
    for old, new in [
        ("schemas/item.py", "schemas/project.py"),
        ("services/items.py", "services/projects.py"),
        ("api/v1/routes/items.py", "api/v1/routes/projects.py"),
    ]:
        _copy_renamed(package / old, package / new)
    _copy_renamed(
        environment / "tests" / "test_items.py", environment / "tests" / "test_projects.py"
    )
    # Mounted in api/v1/custom.py; with auth, twice, as items are: under /orgs/{org_id} and
    # for the personal organization.
    custom = package / "api" / "v1" / "custom.py"
    imports = [f"from {PACKAGE_NAME}.api.v1.routes import projects"]
    mounts = ["router.include_router(projects.router)"]
    if rendered.variant.auth:
        imports.insert(0, f"from {PACKAGE_NAME}.api.scope import in_org")
        mounts.insert(
            0,
            'router.include_router(projects.router, prefix="/orgs/{org_id}",'
            " generate_unique_id_function=in_org)",
        )
    text = custom.read_text(encoding="utf-8").replace(
        "from fastapi import APIRouter\n",
        "from fastapi import APIRouter\n\n" + "\n".join(imports) + "\n",
    )
    custom.write_text(text + "\n".join(mounts) + "\n", encoding="utf-8")
    # The longer names need new line breaks, the new imports their place.
    uv_run(environment, "ruff", "format", ".")
    uv_run(environment, "ruff", "check", "--fix", ".")
    # 2. Migration, on a database at head; then the checks.
    name = support.database_name(rendered.variant.id, "guide")
    with support.temporary_database(name) as url:
        env = support.clean_env({"DATABASE_URL": url})
        uv_run(environment, "alembic", "upgrade", "heads", env=env)
        uv_run(environment, "alembic", "revision", "--autogenerate", "-m", "add projects", env=env)
        revisions = list((environment / "alembic" / "versions").glob("*_add_projects.py"))
        assert len(revisions) == 1, revisions
        assert 'op.create_table(\n        "projects"' in revisions[0].read_text(encoding="utf-8")
        uv_run(environment, "alembic", "upgrade", "heads", env=env)
        uv_run(environment, "alembic", "check", env=env)
    uv_run(environment, "ruff", "check", ".")
    uv_run(environment, "ruff", "format", "--check", ".")
    with mypy_run(mypy_cache):
        uv_run(environment, "mypy", ".", env=support.clean_env({"MYPY_CACHE_DIR": str(mypy_cache)}))
    name = support.database_name(rendered.variant.id, "guide_pytest")
    env = support.clean_env({"DATABASE_URL": support.database_url(name)})
    try:
        result = uv_run(environment, "pytest", "-q", "tests/test_projects.py", env=env)
    finally:
        support.drop_database(name)
    assert " passed" in result.stdout


# The guide's renames: the `Item` names to `Project`, `item`/`items` to `project`/`projects`,
# but not a page's `items` nor `dict.items()`.
RENAMES = [
    (r"Item", "Project"),
    (r"(?<![.A-Za-z])(?<!page\[\")items(?![=A-Za-z])", "projects"),
    (r"(?<![A-Za-z])item(?![sA-Za-z])", "project"),
]


def _copy_renamed(source: Path, target: Path) -> None:
    text = source.read_text(encoding="utf-8")
    for pattern, replacement in RENAMES:
        text = re.sub(pattern, replacement, text)
    target.write_text(text, encoding="utf-8")


each_task_guide_variant = pytest.mark.parametrize(
    "rendered",
    [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in TASK_GUIDE_VARIANTS],
    indirect=True,
    scope="module",
)
# The generated README's "To add a task", step by step: the task, then a script that enqueues
# it as a service does and waits for the worker to end its job.
NEW_TASK = """

@task("report", retried=True)
{async_}def report(run: Run, org: str) -> str:
    return f"report of {{org}} for {{run.settings.PROJECT_NAME}}"
"""
ENQUEUE_THE_NEW_TASK = """
import asyncio

import anyio

from {package}.core.config import Settings
from {package}.db.session import create_engine, create_sessionmaker
from {package}.services import job_results, jobs
from {package}.worker.queue import job_queue


async def main() -> None:
    settings = Settings()
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    queue = job_queue(settings, sessions)
    await queue.open()

    {async_}def enqueue():
        {async_}with sessions() as session:
            job = {await_}jobs.enqueue(session, queue, "report", org="Acme")
            {await_}session.commit()
            return job.id

    {async_}def status(job_id):
        {async_}with sessions() as session:
            job = {await_}job_results.get_job(session, job_id)
            return job.status, job.result

    job_id = {enqueue}
    for _ in range(300):
        state = {status}
        if state[0] in ("finished", "failed"):
            break
        await asyncio.sleep(0.2)
    print(*state)
    await queue.close()
    {await_}engine.dispose()


asyncio.run(main())
"""


@each_task_guide_variant
def test_task_guide(environment: Path, services: dict[str, str], rendered: Rendered) -> None:
    """j. The generated README's "To add a task": one function, declared by its name in
    worker/tasks.py, enqueued by name; the real worker runs it, with no other change."""
    variant = rendered.variant
    is_async = variant.db_mode == "async"
    tasks_file = environment / PACKAGE_NAME / "worker" / "tasks.py"
    spelling = {"async_": "async " if is_async else "", "await_": "await " if is_async else ""}
    tasks_file.write_text(
        tasks_file.read_text(encoding="utf-8") + NEW_TASK.format(**spelling), encoding="utf-8"
    )
    uv_run(environment, "ruff", "check", str(tasks_file))
    # Sync code runs in a worker thread, as in a route (taskiq's client wants one).
    calls = (
        {"enqueue": "await enqueue()", "status": "await status(job_id)"}
        if is_async
        else {
            "enqueue": "await anyio.to_thread.run_sync(enqueue)",
            "status": "await anyio.to_thread.run_sync(status, job_id)",
        }
    )
    script = ENQUEUE_THE_NEW_TASK.format(package=PACKAGE_NAME, **calls, **spelling)
    name = support.database_name(variant.id, "task")
    with support.temporary_database(name) as url:
        env = support.clean_env(
            {"DATABASE_URL": url, "JOB_QUEUE": support.database_name(variant.id, "tasks")}
        )
        uv_run(environment, "alembic", "upgrade", "heads", env=env)
        worker = variant.worker_command()
        if variant.worker == "celery":
            worker.append(f"--hostname={name}@%h")
        log = environment.parent / "task-worker.log"
        process = served.start([*served.UV_RUN, *worker], environment, env, log)
        try:
            result = uv_run(environment, "python", "-c", script, env=env)
        finally:
            served.stop(process)
    assert result.stdout.split() == ["finished", "report", "of", "Acme", "for", "Acme", "Cloud"], (
        result.stdout + log.read_text(errors="replace")
    )
