"""The test harness itself: the variant list and the rendered-output scan."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import support
from tests.flatten_template import flatten
from tests.variants import BASE_ANSWERS, VARIANTS, choices


def test_every_combination_is_a_variant() -> None:
    combinations = {(v.db_mode, v.auth, v.worker) for v in VARIANTS}
    assert len(combinations) == 20  # db_mode x auth x worker
    assert len({variant.id for variant in VARIANTS}) == len(VARIANTS)
    rabbitmq = [v.id for v in VARIANTS if v.celery_broker == "rabbitmq"]
    assert rabbitmq == ["async-auth-celery-rabbitmq", "sync-noauth-celery-rabbitmq"]
    assert {"async-auth-none", "sync-noauth-celery", "async-noauth-procrastinate"} <= {
        variant.id for variant in VARIANTS
    }
    assert set(choices("db_mode")) == {"async", "sync"}
    assert set(choices("worker")) == {"none", "celery", "rq", "taskiq", "procrastinate"}


def test_services_follow_the_answers() -> None:
    """Each variant asks for the services its queue needs, as extensions/context.py says."""
    services = {variant.id: variant.services for variant in VARIANTS}
    assert services["async-auth-none"] == ["postgres"]
    assert services["async-auth-procrastinate"] == ["postgres"]
    assert services["sync-noauth-rq"] == ["postgres", "redis"]
    assert services["async-auth-celery"] == ["postgres", "redis"]
    assert services["async-auth-celery-rabbitmq"] == ["postgres", "rabbitmq"]


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


def test_template_writes_each_concept_once() -> None:
    """At most 4 files exist twice, once per ``db_mode``; no file but the project's README
    has more than 40 ``{%`` tags (a file that needs more is two concepts)."""
    template = support.REPO_ROOT / "template"
    # How a file name says "only in this mode"; the rest of the name is the concept.
    spellings = {
        "async": ["db_mode == 'async'", "is_async"],
        "sync": ["db_mode == 'sync'", "not is_async"],
    }
    by_mode: dict[str, set[str]] = {"async": set(), "sync": set()}
    for path in template.rglob("*"):
        relative = path.relative_to(template).as_posix()
        mode = next((m for m in ("sync", "async") for sp in spellings[m] if sp in relative), None)
        if mode is not None:
            concept = relative
            for spelling in spellings[mode]:
                concept = concept.replace(spelling, "MODE")
            by_mode[mode].add(concept)
    twins = by_mode["async"] & by_mode["sync"]
    assert twins, "the check lost track of the one twin it knows (db/session.py)"
    assert len(twins) <= 4, sorted(twins)
    tags = {
        path.relative_to(template).as_posix(): path.read_text(encoding="utf-8").count("{%")
        for path in template.rglob("*.jinja")
    }
    crowded = {name: count for name, count in tags.items() if count > 40}
    assert set(crowded) <= {"README.md.jinja"}, crowded


def test_flat_copy_of_the_template(tmp_path: Path) -> None:
    """The copy for the duplicate-code check: no ``.jinja`` suffix, no Jinja in any name,
    one file for each file of the template."""
    written = flatten(support.REPO_ROOT / "template", tmp_path)
    template_files = [p for p in (support.REPO_ROOT / "template").rglob("*") if p.is_file()]
    assert len(written) == len(set(written)) == len(template_files)
    for path in written:
        relative = path.relative_to(tmp_path).as_posix()
        assert not relative.endswith(".jinja"), relative
        assert "{" not in relative, relative
    assert (tmp_path / "pkg" / "worker" / "queue.py").is_file()
    assert len(list((tmp_path / "pkg" / "worker").glob("queue*.py"))) == 4


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"ci": "gitlab"}, {".gitlab-ci.yml", "renovate.json", "compose.yaml"}),
        ({"ci": "none", "docker": False}, {"renovate.json"}),
    ],
    ids=["ci-gitlab", "ci-none-no-docker"],
)
def test_other_answers_render_valid_files(
    copie: Any, template_root: Path, answers: dict[str, Any], expected: set[str]
) -> None:
    """The answers the variants leave at their default (ci, docker): no leftover Jinja, and
    their files follow their schemas."""
    result = copie.copy(extra_answers={**BASE_ANSWERS, **answers}, template_dir=template_root)
    assert result.exception is None, result.exception
    project: Path = result.project_dir
    assert not support.rendered_problems(project)
    assert support.check_schemas(project) == expected


REQUIREMENT = re.compile(r'^\s*"(?P<name>[A-Za-z0-9_.-]+)[^"]*?(?P<spec>[<>=!~][^"]*)",?\s*(#.*)?$')


@pytest.mark.parametrize("pyproject", ["pyproject.toml", "template/pyproject.toml.jinja"])
def test_every_dependency_has_a_floor_and_a_cap(pyproject: str) -> None:
    """A release past what the tests ran with is allowed only by lifting its cap on purpose
    (docs/contributing.md, "Lifting a cap"); the build backend is left open."""
    text = (support.REPO_ROOT / pyproject).read_text(encoding="utf-8")
    before_build = text.split("[build-system]")[0]
    found = [m for line in before_build.splitlines() if (m := REQUIREMENT.match(line))]
    assert len(found) > 10, "no requirement lines found: the pattern no longer fits"
    open_ended = [m["name"] for m in found if ">=" not in m["spec"] or "<" not in m["spec"]]
    assert not open_ended, f"{pyproject}: no floor or no cap for {open_ended}"
