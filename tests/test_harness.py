"""The test harness itself: the variant list and the rendered-output scan."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests import support
from tests.variants import ALL_VARIANTS, IMPLEMENTED_WORKERS, VARIANTS, choices


def test_every_combination_is_a_variant() -> None:
    combinations = {(v.db_mode, v.auth, v.worker) for v in ALL_VARIANTS}
    assert len(combinations) == 20  # db_mode x auth x worker
    assert len({variant.id for variant in ALL_VARIANTS}) == len(ALL_VARIANTS)
    rabbitmq = [v.id for v in ALL_VARIANTS if v.celery_broker == "rabbitmq"]
    assert rabbitmq == ["async-auth-celery-rabbitmq", "sync-noauth-celery-rabbitmq"]
    assert {"async-auth-none", "sync-noauth-celery", "async-noauth-procrastinate"} <= {
        variant.id for variant in ALL_VARIANTS
    }
    assert set(choices("db_mode")) == {"async", "sync"}
    assert set(choices("worker")) == {"none", "celery", "rq", "taskiq", "procrastinate"}


def test_implemented_workers_are_worker_choices() -> None:
    assert set(choices("worker")) >= IMPLEMENTED_WORKERS
    assert "none" in IMPLEMENTED_WORKERS
    assert [v for v in ALL_VARIANTS if v.worker in IMPLEMENTED_WORKERS] == VARIANTS


def test_python_versions_are_choices() -> None:
    assert choices("python_version") == ["3.11", "3.12", "3.13"]


def test_scan_finds_leftovers(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "ok.py").write_text("x = {'a': 1}\n")
    (tmp_path / "pkg" / "var.py").write_text("x = '{{ package_name }}'\n")
    (tmp_path / "pkg" / "tag.py").write_text("# {% if auth %}\n")
    (tmp_path / "pkg" / "comment.py").write_text("{# note #}\n")
    (tmp_path / "pkg" / "empty.py").write_text("\n")
    (tmp_path / "left.txt.jinja").write_text("text\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: ${{ github.ref }}\n")
    problems = "\n".join(support.rendered_problems(tmp_path))
    assert "pkg/var.py:1: leftover '{{'" in problems
    assert "pkg/tag.py:1: leftover '{%'" in problems
    assert "pkg/comment.py:1: leftover '{#'" in problems
    assert "pkg/empty.py: empty after rendering" in problems
    assert "left.txt.jinja: still ends in .jinja" in problems
    assert "__init__" not in problems
    assert "ok.py" not in problems
    assert "ci.yml" not in problems


def test_database_names_are_unique_and_short() -> None:
    name = support.database_name("async-noauth-procrastinate", "alembic")
    assert name.startswith("tt_")
    assert len(name) <= 63
    assert "-" not in name
    assert support.RUN_TOKEN in name


def test_template_repo_is_lint_clean() -> None:
    """``extensions/`` and ``tests/`` pass ruff and mypy with pyproject.toml's settings."""
    ruff = Path(sys.executable).with_name("ruff")
    support.run([ruff, "check", "."], cwd=support.REPO_ROOT, env=dict(os.environ))
    support.run([ruff, "format", "--check", "."], cwd=support.REPO_ROOT, env=dict(os.environ))
    support.run([sys.executable, "-m", "mypy"], cwd=support.REPO_ROOT, env=dict(os.environ))
