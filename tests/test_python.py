"""Every ``python_version`` choice renders consistently; every interpreter that is present
installs, compiles and passes the project's own tests (one variant, see PYTHON_CHECK_VARIANT).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests import support
from tests.variants import PACKAGE_NAME, PYTHON_CHECK_VARIANT, PYTHON_VERSIONS

pytestmark = [pytest.mark.variant]


def _params() -> list[object]:
    return [
        pytest.param(v, id=f"py{v}", marks=[pytest.mark.xdist_group(f"py{v}")])
        for v in PYTHON_VERSIONS
    ]


def _render(template_root: Path, destination: Path, version: str) -> Path:
    answers = {**PYTHON_CHECK_VARIANT.answers, "python_version": version}
    return support.render(template_root, destination, answers)


@pytest.mark.parametrize("version", _params())
def test_render_python(template_root: Path, tmp_path: Path, version: str) -> None:
    """Rendering for ``version``: the project states it wherever a tool reads it."""
    project = _render(template_root, tmp_path / "project", version)
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


@pytest.mark.parametrize("version", _params())
def test_interpreter(template_root: Path, tmp_path: Path, version: str, postgres: str) -> None:
    """With the real interpreter: ``uv sync``, ``compileall``, the project's ``pytest``."""
    python = support.find_python(version)
    if python is None:
        pytest.skip(
            f"Python {version} is not installed (looked in $PYENV_ROOT/versions/{version}.* "
            f"and with `uv python find {version}`)"
        )
    project = _render(template_root, tmp_path / "project", version)
    support.run(["uv", "sync", "--python", python, "--group", "dev"], cwd=project)
    run = ["uv", "run", "--no-sync"]
    out = support.run([*run, "python", "-c", "import sys; print(sys.version)"], cwd=project)
    assert out.stdout.startswith(version + "."), out.stdout
    targets = [p for p in (PACKAGE_NAME, "tests", "alembic") if (project / p).is_dir()]
    support.run([*run, "python", "-m", "compileall", "-q", *targets], cwd=project)

    name = support.database_name(PYTHON_CHECK_VARIANT.id, "py" + version)
    env = support.clean_env({"DATABASE_URL": support.database_url(name)})
    try:
        support.run([*run, "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, env=env)
    finally:
        support.drop_database(name)
