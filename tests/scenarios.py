"""What each variant runs: the one table (docs/contributing.md, "What each variant runs").

Every variant runs every stage of ``tests/test_variants.py``: render, environment, ruff, mypy,
its own pytest, alembic, and serve (health, docs, headers and, with a worker, a job through
the real worker). Two rules keep the run short without leaving a line unchecked:

- A worker variant's pytest runs only the generated test files that read differently from
  its worker-less sibling's (both renders of ``tests/``, in-process, line by line:
  ``own_test_files``): the others, the same text on the same code, pass in the sibling's
  own run.
- Each expensive check below runs on the variants it names, for the reason it gives, and
  is left out of the others. ``tests/test_scenarios.py`` proves the choice: every line of
  a check's ``files`` that any variant renders is rendered in a variant that runs the check.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from extensions.context import SaasHelpers, derived_values
from tests.variants import (
    PACKAGE_NAME,
    REPO_ROOT,
    VARIANTS,
    VARIANTS_BY_ID,
    Variant,
    load_questions,
)


@dataclass(frozen=True)
class Check:
    """An expensive check: where it runs, why there is enough, and what it exercises."""

    variants: tuple[str, ...]
    why: str
    # The rendered files (globs, `{package}` for the package) whose lines the check exercises.
    files: tuple[str, ...]
    # Generated tests that are the check: deselected from the pytest stage of the others.
    tests: tuple[str, ...] = field(default=())

    def runs_on(self, variant: Variant) -> bool:
        return variant.id in self.variants


def _ids(*, worker: str | None = None, auth: bool | None = None) -> tuple[str, ...]:
    return tuple(
        variant.id
        for variant in VARIANTS
        if (worker is None or variant.worker == worker) and (auth is None or variant.auth == auth)
    )


# The files the guide copies (the scope's, which it uses, every suite tests).
ITEMS = (
    "{package}/models/item.py",
    "{package}/schemas/item.py",
    "{package}/services/items.py",
    "{package}/api/v1/routes/items.py",
    "tests/test_items.py",
)

ROUTES = ("auth", "users", "orgs", "items", "jobs")

# One variant per queue (and celery's broker); between them both db_modes and both auth answers.
EACH_QUEUE = (
    "async-auth-rq",
    "sync-noauth-taskiq",
    "sync-auth-celery",
    "sync-noauth-celery-rabbitmq",
    "async-auth-procrastinate",
)
# And each queue in its other db_mode, with the other auth answer.
EACH_QUEUE_IN_EACH_MODE = (
    *EACH_QUEUE,
    "sync-noauth-rq",
    "async-auth-taskiq",
    "async-noauth-celery",
    "async-auth-celery-rabbitmq",
    "sync-noauth-procrastinate",
)

CHECKS: dict[str, Check] = {
    # test_guide: the generated README's "Adding a resource", step by step.
    "guide": Check(
        ("async-auth-celery", "sync-noauth-taskiq"),
        "the guide copies the items files, which differ by db_mode and auth only",
        ITEMS,
    ),
    # test_task_guide: the generated README's "To add a task".
    "task_guide": Check(
        ("async-auth-celery", "sync-noauth-taskiq", "sync-auth-rq", "async-noauth-procrastinate"),
        "one variant per queue: the new task goes through each queue's real worker",
        ("{package}/worker/tasks.py", "{package}/services/jobs.py"),
    ),
    # serve: schemathesis on every operation of the served schema (_fuzz).
    "fuzz": Check(
        ("async-auth-taskiq", "sync-auth-taskiq", "async-noauth-rq", "sync-noauth-rq"),
        "the routes and their schemas differ by db_mode and auth, and the job routes are there"
        " with any queue: the queue behind /jobs answers the same whatever it is",
        # /health is served, and checked, in every variant's serve stage.
        (*(f"{{package}}/api/v1/routes/{name}.py" for name in ROUTES), "{package}/schemas/*.py"),
    ),
    # serve: a typed client generated from the served schema, type-checked and used (_client).
    "client": Check(
        ("async-auth-taskiq", "sync-auth-taskiq", "async-noauth-rq", "sync-noauth-rq"),
        "the fuzz's variants: each schema the fuzz holds to the API is one a client is made from",
        ("{package}/schemas/*.py", "{package}/api/v1/routes/items.py"),
    ),
    # serve: a megabyte header, a body that never ends, forwarded headers (_hostile_client).
    "hostile_client": Check(
        _ids(worker="none"),
        "the request limits and headers are the same in every variant",
        ("{package}/api/limits.py", "{package}/api/headers.py"),
    ),
    # serve: the account lifecycle and organizations against the server (_account_lifecycle,
    # _organizations), with production's password hashing and a real SMTP server.
    "accounts_served": Check(
        _ids(worker="none", auth=True),
        "the account code differs by db_mode only; the outbox, by worker, is the suites'",
        (
            "{package}/api/auth.py",
            "{package}/api/orgs.py",
            "{package}/api/v1/routes/auth.py",
            "{package}/api/v1/routes/users.py",
            "{package}/api/v1/routes/orgs.py",
            "{package}/core/security.py",
            "{package}/services/accounts.py",
            "{package}/services/users.py",
            "{package}/services/orgs.py",
            "{package}/services/throttle.py",
        ),
    ),
    # pytest: the real worker process, with the tests' own API (5 to 25 s each).
    "real_worker": Check(
        EACH_QUEUE_IN_EACH_MODE,
        "the adapter of each queue reads differently by db_mode, the tasks by auth: each queue"
        " runs in both db_modes, with auth in one; the serve stage sends a job through the"
        " real worker of every variant",
        ("{package}/worker/*.py", "tests/test_jobs.py", "tests/test_broker_outage.py"),
        tests=(
            "tests/test_jobs.py::test_a_real_worker_runs_jobs_retries_and_reports",
            "tests/test_jobs.py::test_the_worker_sends_the_emails_and_logs_no_token",
            "tests/test_jobs.py::test_account_emails_go_ahead_of_the_jobs_waiting",
            "tests/test_broker_outage.py::test_a_job_that_a_crash_left_unsent_is_relayed_and_runs",
        ),
    ),
    # pytest: a worker through a 10 s outage of its broker (15 to 35 s each).
    "worker_outage": Check(
        EACH_QUEUE,
        "one variant per queue (and broker); between them both db_modes and both auth answers",
        ("tests/test_broker_outage.py",),
        tests=(
            "tests/test_broker_outage.py::test_the_worker_runs_through_a_broker_outage",
            "tests/test_database_outage.py::test_the_worker_runs_through_a_database_outage",
        ),
    ),
    # pytest: SIGTERM to a worker in the middle of a job, as a rolling update sends it.
    "worker_shutdown": Check(
        EACH_QUEUE,
        "each queue's command stops in its own way: the worker process runs it (__main__.py)",
        ("{package}/worker/__main__.py",),
        tests=("tests/test_jobs.py::test_a_worker_stopped_by_sigterm_finishes_its_job",),
    ),
    # pytest: five rounds of five prestarts at once, on a fresh database and on one a
    # revision behind (about 40 s a variant).
    "concurrent_prestart": Check(
        ("async-noauth-none", "sync-auth-none"),
        "the lock is one line of alembic/env.py, the same in every variant; the test's own"
        " lines differ by auth",
        ("tests/test_prestart.py",),
        tests=("tests/test_prestart.py::test_prestarts_started_together_migrate_once",),
    ),
    # pytest: the API through a stopped and a frozen private PostgreSQL. procrastinate's file
    # reads differently from its sibling's (it adds the worker's test): its other tests, the
    # same text, run in one procrastinate variant.
    "database_outage": Check(
        (*_ids(worker="none"), "async-auth-procrastinate"),
        "the API's side is the same text in every variant of a db_mode x auth",
        ("tests/test_database_outage.py",),
        tests=(
            "tests/test_database_outage.py::test_the_database_down_is_503_and_the_app_recovers",
            "tests/test_database_outage.py::test_a_frozen_database_is_503_within_the_timeouts_and_the_app_recovers",
            "tests/test_database_outage.py::test_requests_queued_for_a_connection_in_a_freeze_are_503_within_the_bound",
        ),
    ),
}


def deselected(variant: Variant) -> list[str]:
    """The generated tests that the pytest stage of `variant` leaves to other variants."""
    return [test for check in CHECKS.values() if not check.runs_on(variant) for test in check.tests]


# ----------------------------------------------------------------- the lines of each render

MARK = re.compile("\x02(\\d+)\x03")
DELIMITERS = {"{%": "%}", "{{": "}}", "{#": "#}"}
# A tag or a comment, to the end of the line if it goes on.
TAGS = re.compile(r"\{%.*?(%\}|$)|\{#.*?(#\}|$)")


def marked(source: str) -> str:
    """`source` with a mark at the start of each line that is text of the output (not a tag,
    a comment, or the inside of one): rendered, the marks say which lines came out."""
    out = []
    closing: str | None = None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        if closing is None and TAGS.sub("", line).strip():
            out.append(f"\x02{number}\x03")
        out.append(line)
        position = 0
        while True:
            if closing is None:
                found = [(line.find(opener, position), opener) for opener in DELIMITERS]
                found = [(index, opener) for index, opener in found if index >= 0]
                if not found:
                    break
                index, opener = min(found)
                closing, position = DELIMITERS[opener], index + 2
            else:
                index = line.find(closing, position)
                if index < 0:
                    break
                closing, position = None, index + 2
    return "".join(out)


def context_of(variant: Variant) -> dict[str, Any]:
    """The answers copier renders `variant` with: its own, the defaults, what is derived."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, extensions=[SaasHelpers])
    context: dict[str, Any] = {}
    for name, spec in load_questions().items():
        value = variant.answers.get(name, spec.get("default"))
        if isinstance(value, str) and "{{" in value:
            value = environment.from_string(value).render(context)
        context[name] = value
    assert context["package_name"] == PACKAGE_NAME
    return context | derived_values(context)


Lines = frozenset[tuple[int, str]]


def lines_of(rendered: str) -> Lines:
    """The template's lines that came out of a marked render: (number, text as rendered)."""
    pieces = MARK.split(rendered)[1:]
    return frozenset(
        (int(number), text.strip()) for number, text in zip(pieces[::2], pieces[1::2], strict=True)
    )


ENVIRONMENT = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, extensions=[SaasHelpers]
)


@cache
def _template_file(path: Path) -> tuple[Lines, jinja2.Template | None]:
    """A template file's lines as they stand, and its marked template (a Jinja file's)."""
    text = path.read_text(encoding="utf-8")
    compiled = ENVIRONMENT.from_string(marked(text)) if path.suffix == ".jinja" else None
    return frozenset(enumerate((line.strip() for line in text.splitlines()), 1)), compiled


def render_lines(
    root: Path, context: dict[str, Any], under: str = ""
) -> dict[str, tuple[str, Lines]]:
    """For each template file (below `under`) that `context` renders: the path it renders to
    and the template's lines that come out, each with its text as rendered."""
    template = root / "template"
    found: dict[str, tuple[str, Lines]] = {}
    for path in sorted((template / under).rglob("*")):
        name = path.relative_to(template).as_posix()
        if not path.is_file() or "_copier_conf" in name:
            continue
        target = ENVIRONMENT.from_string(name.removesuffix(".jinja")).render(context)
        if any(part == "" for part in target.split("/")):
            continue
        lines, compiled = _template_file(path)
        found[name] = (target, lines if compiled is None else lines_of(compiled.render(context)))
    return found


@cache
def rendered_lines(root: Path = REPO_ROOT) -> dict[str, dict[str, tuple[str, Lines]]]:
    """For each template file: for each variant that renders it, the path it renders to and
    the template's lines that come out, each with its text as that variant renders it."""
    found: dict[str, dict[str, tuple[str, Lines]]] = {}
    for variant in VARIANTS:
        for name, rendered in render_lines(root, context_of(variant)).items():
            found.setdefault(name, {})[variant.id] = rendered
    return found


def sibling(variant: Variant) -> Variant:
    """A worker variant's worker-less sibling: the variant of the same db_mode and auth."""
    return VARIANTS_BY_ID[replace(variant, worker="none", celery_broker=None).id]


def own_test_files(variant: Variant, root: Path = REPO_ROOT) -> list[str]:
    """The generated test files of a worker variant that its worker-less sibling lacks or
    renders differently (the first rule above); every one, for a worker-less variant."""
    own = render_lines(root, context_of(variant), "tests")
    theirs = {}
    if variant.worker != "none":
        theirs = render_lines(root, context_of(sibling(variant)), "tests")
    return sorted(
        target
        for name, (target, lines) in own.items()
        if re.fullmatch(r"tests/(.*/)?test_\w+\.py", target) and theirs.get(name) != (target, lines)
    )


def unreached(check: Check, root: Path = REPO_ROOT) -> list[str]:
    """The lines of `check`'s files that some variant renders and none that runs it renders
    the same way (a line that differs by variant, even by one word, is one line per text)."""
    patterns = [pattern.format(package=PACKAGE_NAME) for pattern in check.files]
    problems = []
    for name, renders in rendered_lines(root).items():
        lines_by_variant = {
            variant_id: lines
            for variant_id, (target, lines) in renders.items()
            if any(fnmatch.fnmatchcase(target, pattern) for pattern in patterns)
        }
        reached: Lines = frozenset().union(
            *(lines for variant, lines in lines_by_variant.items() if variant in check.variants)
        )
        for variant_id, lines in lines_by_variant.items():
            for number, text in sorted(lines - reached):
                problems.append(f"{name}:{number} as in {variant_id}: {text[:60]}")
                reached |= {(number, text)}  # one report per line
    return problems
