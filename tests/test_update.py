"""``copier update`` on real git repositories, from the previous release to the new one.

One temporary clone of the template carries two tags (see ``update_helpers.make_releases``):
the previous release (the first commit) and the new one (the working tree, committed).
A conflicting update still exits 0, so every test looks for ``.rej`` files and conflict
markers itself. All tests share one xdist worker (and the renders of its fixtures).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tests import support
from tests import update_helpers as uh
from tests.variants import BASE_ANSWERS, PACKAGE_NAME

PYTHON = BASE_ANSWERS["python_version"]

pytestmark = [pytest.mark.xdist_group("update")]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> uh.Releases:
    return uh.make_releases(support.REPO_ROOT, tmp_path_factory.mktemp("releases") / "template")


# --------------------------------------------------------- previous release -> new release


class Updated:
    """A project rendered from the previous release, edited by its user, then updated."""

    def __init__(self, path: Path, env_before: bytes, conflicts: list[str]) -> None:
        self.path = path
        self.env_before = env_before
        self.conflicts = conflicts  # what the update left, before the user resolved it


@pytest.fixture(scope="module")
def updated(releases: uh.Releases, tmp_path_factory: pytest.TempPathFactory) -> Updated:
    project = uh.render_release(
        releases, releases.previous, tmp_path_factory.mktemp("updated") / "project", BASE_ANSWERS
    )
    uh.make_user_edits(project, PACKAGE_NAME, mount="router")
    with (project / "tests" / "core" / "test_config.py").open("a", encoding="utf-8") as file:
        file.write(USER_SETTINGS_TEST)
    uh.commit_all(project, "The user's own changes")
    # The user's own secret: .env is not tracked (.gitignore), and must be kept as it is.
    env = project / ".env"
    env.write_text(env.read_text(encoding="utf-8") + "SENTRY_DSN=https://key@sentry.example/1\n")
    env_before = env.read_bytes()
    uh.update(project, releases.new)
    conflicts = uh.conflicts(project)
    # The user resolves the conflicts the release notes announce, as docs/updating.md says.
    for relative in uh.EXPECTED_CONFLICTS.get(releases.previous, []):
        uh.keep_both(project / relative)
    return Updated(project, env_before, conflicts)


USER_SETTINGS_TEST = '''

def test_users_own_setting() -> None:
    """A test the user added to the settings tests."""
    assert Settings.model_validate({"DB_POOL_SIZE": 3}).DB_POOL_SIZE == 3
'''


def test_update_reaches_the_new_release(updated: Updated, releases: uh.Releases) -> None:
    answers = yaml.safe_load((updated.path / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == releases.new


def test_update_keeps_the_users_edits(updated: Updated) -> None:
    missing = uh.missing_user_edits(updated.path, PACKAGE_NAME, mount="router")
    assert not missing, "\n".join(missing)


def test_update_conflicts_only_where_the_changelog_says(
    updated: Updated, releases: uh.Releases
) -> None:
    """Every edit replays cleanly, but where the release notes announce a conflict; once the
    user has resolved that one as the docs say, no conflict is left."""
    expected = uh.EXPECTED_CONFLICTS.get(releases.previous, [])
    conflicted = sorted({line.split(":")[0] for line in updated.conflicts})
    assert conflicted == expected, "\n".join(updated.conflicts)
    problems = uh.conflicts(updated.path)
    assert not problems, "\n".join(problems)


def test_update_keeps_the_users_own_tests(updated: Updated) -> None:
    text = (updated.path / "tests" / "core" / "test_config.py").read_text(encoding="utf-8")
    assert USER_SETTINGS_TEST.strip() in text


def test_migration_moves_the_settings_tests_with_their_edits(
    releases: uh.Releases, tmp_path: Path
) -> None:
    """``_migrations`` v0.2.0, on an update from 0.1.0: tests/test_config.py moves to
    tests/core/test_config.py with the user's edits."""
    project = uh.render_release(releases, "v0.1.0", tmp_path / "project", BASE_ANSWERS)
    with (project / "tests" / "test_config.py").open("a", encoding="utf-8") as file:
        file.write(USER_SETTINGS_TEST)
    uh.commit_all(project, "The user's own test")
    uh.update(project, releases.new)
    old = project / "tests" / "test_config.py"
    new = project / "tests" / "core" / "test_config.py"
    assert not old.exists(), "the old settings tests were left behind"
    assert new.is_file()
    assert USER_SETTINGS_TEST.strip() in new.read_text(encoding="utf-8")
    assert (project / "tests" / "core" / "__init__.py").is_file()
    assert not list(project.glob(".copier-0.2.0-*")), "the migration left its copy behind"


def run_migration_steps(project: Path, stage: str, template_root: Path) -> None:
    """Every `_migrations` step of `stage`, as copier runs them on a project whose recorded
    version is older than all of them (one rendered from a checkout without tags records
    0.0.0.postN)."""
    config = yaml.safe_load((template_root / "copier.yml").read_text(encoding="utf-8"))
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for step in config["_migrations"]:
        if environment.from_string(step["when"]).render(_stage=stage) != "True":
            continue
        render = environment.from_string
        command = [render(part).render(_copier_python=sys.executable) for part in step["command"]]
        subprocess.run(command, cwd=project, check=True)


def test_every_migration_step_leaves_a_project_of_the_new_layout_alone(
    template_root: Path, tmp_path: Path
) -> None:
    """Each step acts only on the layout it was written for: a project of today's layout,
    with a `tests/test_config.py` of the user's own, comes out of all of them unchanged
    (the v0.2.0 step put that file over the template's tests/core/test_config.py)."""
    project = support.render(template_root, tmp_path / "project", BASE_ANSWERS)
    (project / "tests" / "test_config.py").write_text("def test_mine() -> None:\n    pass\n")
    before = uh.tree(project)
    for stage in ("before", "after"):
        run_migration_steps(project, stage, template_root)
    assert uh.tree(project) == before


def test_update_never_touches_env_and_answers_hold_no_secret(updated: Updated) -> None:
    env = updated.path / ".env"
    assert env.read_bytes() == updated.env_before
    secrets = {
        key: value
        for key, value in uh.read_env(env).items()
        if key in {"SECRET_KEY", "FIRST_SUPERUSER_PASSWORD", "SENTRY_DSN"}
    }
    assert "SECRET_KEY" in secrets  # the default answers have auth
    answers_text = (updated.path / ".copier-answers.yml").read_text(encoding="utf-8")
    answers: dict[str, Any] = yaml.safe_load(answers_text)
    for key in answers:
        assert not any(word in key.lower() for word in ("secret", "password", "token")), key
    for key, value in secrets.items():
        assert value not in answers_text, f"the answers file holds {key}"
    tracked = uh.git(updated.path, "ls-files").split()
    assert ".env" not in tracked


def test_update_to_the_same_version_changes_nothing(
    updated: Updated, releases: uh.Releases, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(updated.path, project, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    uh.commit_all(project, "Updated to the new release")
    uh.update(project, releases.new)
    assert uh.porcelain(project) == ""
    assert not uh.conflicts(project)


# The files the user's edits (uh.make_user_edits, USER_SETTINGS_TEST) leave different from a
# fresh render of the new release.
EDITED = {
    f"{PACKAGE_NAME}/api/v1/routes/hello.py",
    f"{PACKAGE_NAME}/api/v1/router.py",
    f"{PACKAGE_NAME}/core/config.py",
    "tests/test_hello.py",
    "tests/core/test_config.py",
    "pyproject.toml",
    "README.md",
}
# Where the update and the user's edits meet: the user's own tests (test_hello.py, the
# settings test in core/test_config.py, which tests the edited settings), every module
# imported (test_architecture.py: the merged router among them) and the app built with every
# route (test_health.py). The rest of the suite is the fresh render's, on the same code, and
# runs in full in the default answers' variant (tests/test_variants.py).
UPDATED_PROJECT_TESTS = [
    "tests/test_hello.py",
    "tests/core/test_config.py",
    "tests/test_architecture.py",
    "tests/test_health.py",
]


@pytest.mark.services
@pytest.mark.slow
def test_updated_project_passes_its_own_tests(
    updated: Updated, releases: uh.Releases, postgres: str, tmp_path: Path
) -> None:
    """The updated project is the new release, file for file, but where the user edited;
    there, its own tests pass, and the quick start's first command migrates."""
    fresh = support.render(releases.repo, tmp_path / "fresh", BASE_ANSWERS, vcs_ref=releases.new)
    difference = uh.tree_difference(uh.tree(updated.path), uh.tree(fresh))
    assert {line.split(": ")[1] for line in difference} == EDITED, "\n".join(difference)

    python = support.find_python(PYTHON)
    if python is None:
        pytest.fail(f"Python {PYTHON} not found (see tests/support.find_python)", pytrace=False)
    project = updated.path
    support.run(["uv", "sync", "--python", str(python), "--group", "dev"], cwd=project)
    url = support.database_url(support.database_name("update"))
    pytest_command = ["pytest", "-q", "-p", "no:cacheprovider", *UPDATED_PROJECT_TESTS]
    try:
        result = support.run(
            ["uv", "run", "--no-sync", *pytest_command],
            cwd=project,
            env=support.clean_env({"DATABASE_URL": url}),
        )
    finally:
        support.drop_database(support.database_name("update"))
    # The quick start's first command (docs/quickstart.md): migrate, create the superuser.
    with support.temporary_database(support.database_name("update", "prestart")) as url:
        support.run(
            ["uv", "run", "--no-sync", "python", "-m", f"{PACKAGE_NAME}.prestart"],
            cwd=project,
            env=support.clean_env({"DATABASE_URL": url}),
        )
    assert " passed" in result.stdout, result.stdout
    assert " skipped" not in result.stdout, result.stdout


# -------------------------------------------------------- changing an answer through update


def _answer_change(
    releases: uh.Releases, tmp_path: Path, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Render with ``before``, edit, update with ``after``: the tree equals a fresh render
    with ``after`` plus the same edits (``.env``, random secrets, left out)."""
    project = uh.render_release(
        releases, releases.new, tmp_path / "updated", {**BASE_ANSWERS, **before}
    )
    uh.make_user_edits(project, PACKAGE_NAME, mount="custom")
    uh.commit_all(project, "The user's own changes")
    uh.update(project, releases.new, data=after)

    fresh = support.render(
        releases.repo, tmp_path / "fresh", {**BASE_ANSWERS, **before, **after}, vcs_ref=releases.new
    )
    uh.make_user_edits(fresh, PACKAGE_NAME, mount="custom")

    problems = uh.conflicts(project)
    assert not problems, "\n".join(problems)
    difference = uh.tree_difference(uh.tree(project), uh.tree(fresh))
    assert not difference, "\n".join(difference)
    assert (project / ".env").is_file()


def test_update_turns_auth_on(releases: uh.Releases, tmp_path: Path) -> None:
    _answer_change(releases, tmp_path, {"auth": False}, {"auth": True})
    assert (tmp_path / "updated" / PACKAGE_NAME / "core" / "security.py").is_file()


def test_update_adds_the_celery_worker(releases: uh.Releases, tmp_path: Path) -> None:
    _answer_change(releases, tmp_path, {"worker": "none"}, {"worker": "celery"})
    answers = yaml.safe_load(
        (tmp_path / "updated" / ".copier-answers.yml").read_text(encoding="utf-8")
    )
    assert answers["worker"] == "celery"


@pytest.mark.slow
def test_conflicts_cannot_be_committed(updated: Updated, tmp_path: Path) -> None:
    """A conflicting update still exits 0; the generated pre-commit hooks then refuse the
    conflict markers and the ``.rej`` files it left, so they are not committed by mistake."""
    project = tmp_path / "project"
    shutil.copytree(updated.path, project, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    uh.commit_all(project, "Updated to the new release")
    python = support.find_python(PYTHON)
    assert python is not None, f"Python {PYTHON} not found"
    support.run(["uv", "sync", "--python", python, "--group", "dev"], cwd=project)
    support.run(["uv", "run", "--no-sync", "pre-commit", "install"], cwd=project)
    with (project / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n")
    (project / "pyproject.toml.rej").write_text("@@ -1 +1 @@\n-a\n+b\n", encoding="utf-8")
    uh.git(project, "add", "--all")
    refused = support.run(
        ["git", *uh.GIT_IDENTITY, "commit", "-m", "Oops"], cwd=project, expect_failure=True
    )
    output = refused.stdout + refused.stderr
    assert re.search(r"no conflict markers.*\.+Failed", output), output
    assert re.search(r"no \.rej files.*\.+Failed", output), output
    assert "README.md:" in output, output
    assert "pyproject.toml.rej" in output, output


def test_the_update_script_lists_what_the_update_left(
    updated: Updated, releases: uh.Releases, tmp_path: Path
) -> None:
    """The generated `scripts/update.sh` runs the update, then names every file with a
    conflict marker and every `.rej` file and exits 1; with none, it says so and exits 0."""
    project = tmp_path / "project"
    shutil.copytree(updated.path, project, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    uh.commit_all(project, "Updated to the new release")
    script = [str(project / "scripts" / "update.sh"), "--vcs-ref", releases.new]
    clean = support.run(script, cwd=project)
    assert "No conflict" in clean.stdout, clean.stdout
    with (project / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n")
    (project / "pyproject.toml.rej").write_text("@@ -1 +1 @@\n-a\n+b\n", encoding="utf-8")
    uh.commit_all(project, "A conflict left in")
    left = support.run(script, cwd=project, expect_failure=True)
    assert "  README.md\n" in left.stderr, left.stderr
    assert "  pyproject.toml.rej\n" in left.stderr, left.stderr


@pytest.mark.slow
def test_the_oldest_copier_allowed_renders_and_updates(
    releases: uh.Releases, tmp_path: Path
) -> None:
    """``_min_copier_version`` is no promise only: that copier, exactly, renders the previous
    release and updates the project to the new one."""
    config = yaml.safe_load((support.REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    minimum = config["_min_copier_version"]
    copier_cli = ["uvx", "--from", f"copier=={minimum}", "--with", "copier-template-extensions"]
    project = tmp_path / "project"
    support.run(
        [*copier_cli, "copier", "copy", "--trust", "--defaults", "--vcs-ref", releases.previous,
         "--data", "project_name=Acme Cloud", str(releases.repo), str(project)],
        cwd=tmp_path,
    )  # fmt: skip
    uh.git(project, "init", "--quiet", "--initial-branch=main")
    uh.commit_all(project, "Rendered with the oldest copier allowed")
    version = support.run([*copier_cli, "copier", "--version"], cwd=project).stdout
    assert minimum in version, version
    support.run(
        [*copier_cli, "copier", "update", "--trust", "--defaults", "--vcs-ref", releases.new],
        cwd=project,
    )
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == releases.new
    assert not uh.conflicts(project)
    assert (project / "alembic" / "versions" / "0001_base.py").is_file()
