"""Every ``python_version`` choice renders consistently; every interpreter that is present
installs, compiles and passes the project's own tests (one variant, see PYTHON_CHECK_VARIANT).

The interpreter the variants run on (``tests/test_variants.py``) is left out of the second
test: every variant already installs, type-checks and tests its project with it.
Rendering goes through pytest-copie's ``copie`` fixture.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests import support
from tests.variants import (
    PACKAGE_NAME,
    PROJECT_PYTEST,
    PYTHON_CHECK_VARIANT,
    PYTHON_VERSIONS,
    VARIANTS_PYTHON,
)

pytestmark = [pytest.mark.variant]


def _params(versions: list[str]) -> list[object]:
    return [
        pytest.param(v, id=f"py{v}", marks=[pytest.mark.xdist_group(f"py{v}")]) for v in versions
    ]


def _render(copie: Any, template_root: Path, version: str) -> Path:
    answers = {**PYTHON_CHECK_VARIANT.answers, "python_version": version}
    result = copie.copy(extra_answers=answers, template_dir=template_root)
    if result.exception is not None:
        raise result.exception
    project: Path = result.project_dir
    return project


@pytest.mark.parametrize("version", _params(PYTHON_VERSIONS))
def test_render_python(copie: Any, template_root: Path, version: str) -> None:
    """Rendering for ``version``: the project states it wherever a tool reads it."""
    project = _render(copie, template_root, version)
    problems = support.rendered_problems(project)
    assert not problems, "\n".join(problems)

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


@pytest.mark.parametrize("version", _params([v for v in PYTHON_VERSIONS if v != VARIANTS_PYTHON]))
def test_interpreter(copie: Any, template_root: Path, version: str, postgres: str) -> None:
    """With the real interpreter: ``uv sync``, ``compileall``, the project's ``pytest``."""
    python = support.find_python(version)
    if python is None:
        pytest.skip(
            f"Python {version} is not installed (looked in $PYENV_ROOT/versions/{version}.* "
            f"and with `uv python find {version}`)"
        )
    project = _render(copie, template_root, version)
    support.run(["uv", "sync", "--python", python, "--group", "dev"], cwd=project)
    run = ["uv", "run", "--no-sync"]
    out = support.run([*run, "python", "-c", "import sys; print(sys.version)"], cwd=project)
    assert out.stdout.startswith(version + "."), out.stdout
    targets = [p for p in (PACKAGE_NAME, "tests", "alembic") if (project / p).is_dir()]
    support.run([*run, "python", "-m", "compileall", "-q", *targets], cwd=project)

    name = support.database_name(PYTHON_CHECK_VARIANT.id, "py" + version)
    env = support.clean_env({"DATABASE_URL": support.database_url(name)})
    try:
        support.run([*run, *PROJECT_PYTEST], cwd=project, env=env)
    finally:
        support.drop_database(name)
