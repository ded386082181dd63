"""Fixtures and hooks shared by the template tests.

- ``template_root``: the template to test, as a plain snapshot (see ``support.snapshot_template``).
- ``postgres`` / ``redis`` / ``rabbitmq``: real services; a missing service skips the test,
  except in CI (env ``CI`` set) or with ``--no-skip``, where every skip is a failure.
- At the end: a table of wall time per variant and stage.
"""

from __future__ import annotations

import os
import re
import time
from collections import defaultdict
from collections.abc import Generator
from pathlib import Path

import pytest

from tests import support

STRICT_HELP = "turn every skip into a failure (automatic when the CI env var is set)"

# `pipx run uv run pytest` (the README's command) runs uv from pipx's cache, which is on no
# PATH; uv names itself in `UV`, and the tests' own `uv` and `uvx` commands use that one.
if os.environ.get("UV"):
    os.environ["PATH"] = os.pathsep.join([str(Path(os.environ["UV"]).parent), os.environ["PATH"]])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--no-skip", action="store_true", default=False, help=STRICT_HELP)


def strict(config: pytest.Config) -> bool:
    """No skip is allowed: in CI, or when asked for."""
    ci = os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}
    return ci or bool(config.getoption("--no-skip"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.skipped and not hasattr(report, "wasxfail") and strict(item.config):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and skips are failures here (CI or --no-skip): {reason}"
    return report


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one xdist worker more than the CPUs. Much of a stage is spent waiting (for a
    server to boot, a broker outage to last, a worker to take a job), not computing."""
    return (os.cpu_count() or 1) + 1


# The longest work, first: xdist hands out groups and tests in the order they are collected
# (``--no-loadscope-reorder`` in pyproject.toml), and a long test handed out last would end
# the run with one worker busy and the others idle (the update tests did: a minute).
LONGEST_FIRST = ("test_update_database.py", "test_update.py", "test_variants.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run if xdist's loadgroup no longer groups (pytest-dev/pytest-xdist#1386),
    and put the longest work first (``LONGEST_FIRST``).

    xdist marks a grouped test by appending ``@<group>`` to its node id in the worker; when
    that stops working, a variant's stages would silently run on different workers.
    """
    if not getattr(config.option, "loadgroup", False):
        return  # not an xdist worker with --dist loadgroup
    for item in items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid.rpartition("]")[2]:
            raise pytest.UsageError(
                "pytest-xdist's --dist loadgroup does not group tests with this pytest "
                "(pytest-dev/pytest-xdist#1386); keep pytest within pyproject.toml's pin."
            )

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file's tests keep their order


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """The same for a whole module skipped at collection (``allow_module_level``)."""
    report: pytest.CollectReport = yield
    if report.skipped and strict(collector.config):
        report.outcome = "failed"
    return report


# ---------------------------------------------------------------------------- template


def _template_source(config: pytest.Config) -> Path:
    """The repo root, unless ``--template DIR`` (pytest-copie's option) names another."""
    explicit = any(arg.startswith("--template") for arg in config.invocation_params.args)
    return Path(config.option.template) if explicit else support.REPO_ROOT


@pytest.fixture(scope="session")
def template_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain copy of the template's working tree, made once per session (and worker)."""
    source = _template_source(request.config)
    return support.snapshot_template(source, tmp_path_factory.mktemp("template") / "src")


# ---------------------------------------------------------------------------- services


def _need(problem: str | None) -> None:
    if problem is not None:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def postgres() -> str:
    """The admin URL of a reachable PostgreSQL, or skip."""
    _need(support.postgres_problem())
    return support.POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def redis() -> str:
    _need(support.redis_problem())
    return support.SERVICE_ENV["REDIS_URL"]


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    _need(support.rabbitmq_problem())
    return support.SERVICE_ENV["RABBITMQ_URL"]


# ----------------------------------------------------------------- timing per variant

# Modules whose tests carry a variant as their parameter id; their
# test functions are the stages, in this order (columns of the table).
TIMED_MODULES = {
    "test_variants.py": [
        "render",
        "environment",
        "ruff",
        "mypy",
        "pytest",
        "alembic",
        "serve",
        "guide",
        "task_guide",
    ],
}
# xdist's loadgroup appends "@<group>" to node ids.
_NODEID = re.compile(r"^(?:.*/)?(?P<module>[^/:]+)::test_(?P<stage>[^\[]+)\[(?P<param>[^\]]+)\]")


class VariantTimer:
    """Sums each report's duration (setup + call + teardown) per variant and stage.

    Under xdist the controller receives every worker's reports, with their duration and
    node id, through ``pytest_runtest_logreport``: the table covers all workers.
    """

    def __init__(self) -> None:
        self.durations: dict[str, dict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float))
        )
        self.failed: set[tuple[str, str]] = set()
        self.started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        match = _NODEID.match(report.nodeid)
        if match is None or match["module"] not in TIMED_MODULES:
            return
        self.durations[match["module"]][match["param"]][match["stage"]] += report.duration
        if report.failed:
            self.failed.add((match["module"], match["param"]))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        write = terminalreporter.write_line
        for module, rows in self.durations.items():
            known = TIMED_MODULES[module]
            seen = {stage for stages in rows.values() for stage in stages}
            stages = [s for s in known if s in seen] + sorted(seen - set(known))
            width = max(len(row) for row in [*rows, "variant"])
            terminalreporter.write_sep("=", f"{module}: wall time per variant in seconds")
            write(f"{'variant':<{width}} " + " ".join(f"{s:>11}" for s in stages) + "       total")
            for row in sorted(rows):
                cells = [rows[row].get(stage) for stage in stages]
                total = sum(cell for cell in cells if cell is not None)
                shown = " ".join(f"{c:11.1f}" if c is not None else f"{'-':>11}" for c in cells)
                outcome = "FAILED" if (module, row) in self.failed else "ok"
                write(f"{row:<{width}} {shown} {total:11.1f}  {outcome}")
        if self.durations:
            write(f"session wall time: {time.monotonic() - self.started:.1f} s")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        config.pluginmanager.register(VariantTimer(), "variant-timer")
