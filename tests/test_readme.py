"""The READMEs, as a new user follows them.

- The template's README renders a project in the shell that installed pipx, with nothing
  added to PATH, and with an absolute source (`"$PWD"`): `copier update`, run inside the
  project, finds the template there again.
- A rendered project's README installs uv with pipx, outside pyenv's Pythons, so that it
  is found inside the project although its `.python-version` names another Python; then
  its own commands run (`uv run pytest -m smoke`).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests import support
from tests import update_helpers as uh
from tests.variants import BASE_ANSWERS

pytestmark = [pytest.mark.xdist_group("readme")]
_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def sh_commands(readme: Path) -> list[str]:
    """The commands of a README's ``sh`` blocks, in order."""
    blocks = _SH_BLOCK.findall(readme.read_text(encoding="utf-8"))
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> uh.Releases:
    return uh.make_releases(support.REPO_ROOT, tmp_path_factory.mktemp("releases") / "template")


@pytest.fixture
def fresh_shell(tmp_path: Path) -> dict[str, str]:
    """The shell that has just installed pipx: pipx is on PATH, no uv is (this machine's is
    taken out), pipx's bin directory is not (no `pipx ensurepath` yet); pyenv's shims, if
    any, stay."""
    pipx_dir = Path(sys.executable).parent  # pipx comes with the template's tooling
    env = support.clean_env(
        {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    )
    # What a pyenv shim that started these tests left behind is not in a user's shell.
    for key in ("PYENV_VERSION", "PYENV_DIR", "UV"):
        env.pop(key, None)
    pyenv_root = env.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    shell_path = [
        part
        for part in env["PATH"].split(":")
        if not part.startswith((f"{pyenv_root}/versions/", f"{pyenv_root}/libexec"))
        and not any((Path(part) / name).exists() for name in ("uv", "uvx"))
    ]
    env["PATH"] = ":".join([*shell_path, str(pipx_dir)])
    assert shutil.which("uv", path=env["PATH"]) is None
    return env


@pytest.fixture
def user_env(fresh_shell: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A user's shell after `pipx ensurepath`: pipx's bin directory comes first on PATH."""
    return {**fresh_shell, "PATH": ":".join([str(tmp_path / "bin"), fresh_shell["PATH"]])}


def test_rendered_as_the_readme_says_then_updated_from_inside(
    releases: uh.Releases, fresh_shell: dict[str, str], tmp_path: Path
) -> None:
    render = next(
        cmd for cmd in sh_commands(support.REPO_ROOT / "README.md") if "copier copy" in cmd
    )
    assert '"$PWD"' in render
    support.run(["sh", "-c", render], cwd=releases.repo, env=fresh_shell, what=render)
    project = releases.repo / "my-saas"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_src_path"] == str(releases.repo)
    assert answers["_commit"] == releases.new
    shutil.move(project, tmp_path / "my-saas")  # the project lives in a folder of its own
    project = tmp_path / "my-saas"
    uh.git(project, "init", "--quiet", "--initial-branch=main")
    uh.commit_all(project, "Rendered as the README says")

    # A later release of the template, then `copier update` from inside the project.
    (releases.repo / "template" / ".gitignore").write_text(
        (releases.repo / "template" / ".gitignore").read_text(encoding="utf-8") + "*.later\n",
        encoding="utf-8",
    )
    uh.commit_all(releases.repo, "A later release")
    uh.git(releases.repo, "tag", "-a", "v99.0.0", "-m", "v99.0.0")
    update = render.split(" copier copy ")[0] + " copier update --trust --defaults"
    support.run(["sh", "-c", update], cwd=project, env=fresh_shell, what=update)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == "v99.0.0"
    assert "*.later" in (project / ".gitignore").read_text(encoding="utf-8")


@pytest.mark.services
def test_generated_readme_installs_uv_where_pyenv_finds_it(
    releases: uh.Releases, user_env: dict[str, str], tmp_path: Path, postgres: str
) -> None:
    project = support.render(releases.repo, tmp_path / "project", BASE_ANSWERS)
    assert (project / ".python-version").read_text(encoding="utf-8").strip() == "3.12"
    install = next(cmd for cmd in sh_commands(project / "README.md") if "install uv" in cmd)
    support.run(["sh", "-c", install], cwd=project, env=user_env, what=install)
    assert shutil.which("uv", path=user_env["PATH"]) == str(tmp_path / "bin" / "uv")
    version = support.run(["uv", "run", "python", "--version"], cwd=project, env=user_env)
    assert version.stdout.startswith("Python 3.12"), version.stdout
    name = support.database_name("readme")
    env = {**user_env, "DATABASE_URL": support.database_url(name)}
    try:
        smoke = support.run(
            ["uv", "run", "pytest", "-m", "smoke", "-p", "no:cacheprovider"], cwd=project, env=env
        )
    finally:
        support.drop_database(name)
    assert re.search(r"\b4 passed, \d+ deselected", smoke.stdout), smoke.stdout
