"""Helpers of the ``copier update`` tests: releases in a temporary clone, git, user edits.

Tags may not travel with a clone, so the tests never rely on the repo's own tags: they clone
the template, tag the released commits (``RELEASES``), commit the working tree on top and tag
it as the new release (the newest version of ``CHANGELOG.md``, or the next patch when that
one is released already).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier

from tests import support
from tests.variants import PACKAGE_NAME

# The released commits of the template, as its own tags mark them (docs/contributing.md).
RELEASES = {
    "v0.1.0": "0d7bfbcedf477eef94c763c0f7fa3c5627a22978",
    "v0.2.0": "3e2b934edda0c9eb4ac41dfcc13e4646814929b5",
    "v0.3.0": "2afe032bcb4091950e285697f2b6b3a18beea984",
}
PREVIOUS_RELEASE = "v0.3.0"
GIT_IDENTITY = ["-c", "user.name=Update Test", "-c", "user.email=update@example.com"]
# Parts of a template checkout that are not the template (mkdocs' site/, caches, venvs).
_NOT_TEMPLATE = (".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")
_NOT_TEMPLATE_ROOT = ("site",)
# What a tree comparison leaves out: git's data, environments, and .env (random secrets).
_NOT_COMPARED = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_CHANGELOG_VERSION = re.compile(r"^## \[(\d+\.\d+\.\d+)\]", re.MULTILINE)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout


def newest_version(changelog: Path) -> str:
    """The newest released version in ``CHANGELOG.md``, as a tag: ``v0.2.0``."""
    found = _CHANGELOG_VERSION.search(changelog.read_text(encoding="utf-8"))
    if found is None:
        raise AssertionError(f"{changelog} has no '## [X.Y.Z]' section")
    return f"v{found[1]}"


@dataclass(frozen=True)
class Releases:
    """A clone of the template with its release tags and the new release on top."""

    repo: Path
    previous: str
    new: str


def make_releases(source: Path, destination: Path) -> Releases:
    """Clone ``source``; tag its released commits, and its working tree, committed on top,
    as the new release."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(source), str(destination)], check=True
    )
    for child in destination.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    for child in source.iterdir():
        if child.name in _NOT_TEMPLATE or child.name in _NOT_TEMPLATE_ROOT:
            continue
        target = destination / child.name
        if child.is_dir() and not child.is_symlink():
            shutil.copytree(child, target, ignore=shutil.ignore_patterns(*_NOT_TEMPLATE))
        else:
            shutil.copy2(child, target, follow_symlinks=False)
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--allow-empty", "-m", "The working tree")
    for tag, commit in RELEASES.items():
        git(destination, "tag", "--force", "-a", tag, commit, "-m", tag)
    new = newest_version(destination / "CHANGELOG.md")
    if new in RELEASES:  # not released yet: the working tree is the next patch
        major, minor, patch = new.removeprefix("v").split(".")
        new = f"v{major}.{minor}.{int(patch) + 1}"
    git(destination, "tag", "--force", "-a", new, "-m", new)  # as docs/contributing.md says
    return Releases(destination, PREVIOUS_RELEASE, new)


def render_release(
    releases: Releases, ref: str, destination: Path, answers: Mapping[str, Any]
) -> Path:
    """Render ``ref`` of the clone into a new git repository with one commit."""
    support.render(releases.repo, destination, answers, vcs_ref=ref)
    git(destination, "init", "--quiet", "--initial-branch=main")
    commit_all(destination, "Rendered from the template")
    return destination


def update(project: Path, ref: str, data: Mapping[str, Any] | None = None) -> None:
    """``copier update --trust --defaults`` to ``ref``, optionally changing answers."""
    copier.run_update(
        str(project),
        data=dict(data or {}),
        overwrite=True,
        unsafe=True,
        defaults=True,
        quiet=True,
        vcs_ref=ref,
        skip_answered=True,
    )


def commit_all(project: Path, message: str) -> None:
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--allow-empty", "-m", message)


def porcelain(project: Path) -> str:
    return git(project, "status", "--porcelain", "--untracked-files=all")


def conflicts(project: Path) -> list[str]:
    """``.rej`` files and conflict markers: a conflicting update still exits 0."""
    found: list[str] = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if _NOT_COMPARED & set(relative.parts) or not path.is_file():
            continue
        if path.name.endswith(".rej"):
            found.append(f"{relative}: rejected hunks")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if line.startswith(("<<<<<<<", ">>>>>>>")):
                found.append(f"{relative}:{number}: conflict marker {line!r}")
    return found


def tree(project: Path, leave_out: tuple[str, ...] = (".env",)) -> dict[str, bytes]:
    """Every file of a project (relative path -> content), minus git and environments."""
    files: dict[str, bytes] = {}
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if _NOT_COMPARED & set(relative.parts) or not path.is_file():
            continue
        if relative.as_posix() in leave_out:
            continue
        files[relative.as_posix()] = path.read_bytes()
    return files


def tree_difference(actual: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    """What differs between two trees, one line per path."""
    lines = [f"only after the update: {p}" for p in sorted(actual.keys() - expected.keys())]
    lines += [f"only in the fresh render: {p}" for p in sorted(expected.keys() - actual.keys())]
    lines += [
        f"differs: {p}" for p in sorted(actual.keys() & expected.keys()) if actual[p] != expected[p]
    ]
    return lines


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# ------------------------------------------------------------------------- user edits
#
# The typical edits of a user, as (path, old text, new text) replacements plus new files,
# so that the same edits can be made on an updated project and on a fresh render.

HELLO_ROUTE = '''\
"""A route module of the user's own."""

from fastapi import APIRouter

router = APIRouter(prefix="/hello", tags=["hello"])


@router.get("/")
def hello() -> dict[str, str]:
    return {"hello": "world"}
'''

HELLO_TEST = """\
from {package}.api.v1.routes.hello import hello


def test_hello() -> None:
    assert hello() == {{"hello": "world"}}
"""

# Or in api/v1/router.py, as releases up to 0.3.0 said: the tests that update from one.
ROUTER_IMPORT_OLD = "from {package}.api.v1.routes import auth, items, users\n"
ROUTER_IMPORT_NEW = "from {package}.api.v1.routes import auth, hello, items, users\n"
ROUTER_MOUNT_OLD = "api_router.include_router(items.router)\n"
ROUTER_MOUNT_NEW = (
    "api_router.include_router(items.router)\napi_router.include_router(hello.router)\n"
)
# Or in api/v1/custom.py, the user's own file since 0.4.0, which updates leave alone.
CUSTOM_IMPORT_OLD = "from fastapi import APIRouter\n"
CUSTOM_IMPORT_NEW = "from fastapi import APIRouter\n\nfrom {package}.api.v1.routes import hello\n"
CUSTOM_MOUNT_OLD = "router = APIRouter()\n"
CUSTOM_MOUNT_NEW = "router = APIRouter()\nrouter.include_router(hello.router)\n"
MOUNTS = {
    "custom": (
        "api/v1/custom.py",
        CUSTOM_IMPORT_OLD,
        CUSTOM_IMPORT_NEW,
        CUSTOM_MOUNT_OLD,
        CUSTOM_MOUNT_NEW,
    ),
    "router": (
        "api/v1/router.py",
        ROUTER_IMPORT_OLD,
        ROUTER_IMPORT_NEW,
        ROUTER_MOUNT_OLD,
        ROUTER_MOUNT_NEW,
    ),
}

README_OLD = (
    "You need [uv](https://docs.astral.sh/uv/) and a PostgreSQL server; `DATABASE_URL` in `.env`\n"
    "points at it (`docker compose up -d db` starts one).\n"
)
README_NEW = (
    "Acme's own set-up: ask #platform for a database, put its URL in `.env` as\n"
    "`DATABASE_URL`, and run the two commands below.\n"
)
SETTING_OLD = 'LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"'
SETTING_NEW = 'LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"'
# A dependency of the user's own, where `uv add tenacity` puts it: after structlog.
DEPENDENCY_ANCHOR = re.compile(r'^    "structlog>=[^"]*",\n', re.MULTILINE)
DEPENDENCY_NEW = '    "tenacity>=9.0",\n'
# The conflicts an update from a release is known to leave (CHANGELOG.md says why).
EXPECTED_CONFLICTS = {
    # 0.3.0 raised the floor of every dependency: one added beside them conflicts.
    "v0.2.0": ["pyproject.toml"],
    # 0.4.0 adds the `orgs` route module to the line the user's `hello` went to, and caps
    # every dependency: one added beside them conflicts.
    "v0.3.0": [f"{PACKAGE_NAME}/api/v1/router.py", "pyproject.toml"],
}
_CONFLICT = re.compile(
    r"^<<<<<<< .*?\n(.*?)^=======\n(.*?)^>>>>>>> .*?\n", re.MULTILINE | re.DOTALL
)
_REQUIREMENT = re.compile(r'^\s*"([A-Za-z0-9_.-]+)')
_IMPORT = re.compile(r"^from ([\w.]+) import ([\w, ]+)$", re.MULTILINE)


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise AssertionError(f"{path}: expected {old!r} exactly once")
    path.write_text(text.replace(old, new), encoding="utf-8")


def make_user_edits(project: Path, package: str, mount: str) -> None:
    """A new route module (and its test) mounted in ``api/v1/custom.py`` or
    ``api/v1/router.py`` (``mount``), an edited setting, a new dependency, a README
    paragraph of the user's own."""
    routes = project / package / "api" / "v1" / "routes"
    (routes / "hello.py").write_text(HELLO_ROUTE, encoding="utf-8")
    file, import_old, import_new, mount_old, mount_new = MOUNTS[mount]
    path = project / package / file
    _replace_once(path, import_old.format(package=package), import_new.format(package=package))
    _replace_once(path, mount_old, mount_new)
    (project / "tests" / "test_hello.py").write_text(
        HELLO_TEST.format(package=package), encoding="utf-8"
    )
    _replace_once(project / package / "core" / "config.py", SETTING_OLD, SETTING_NEW)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    anchor = DEPENDENCY_ANCHOR.search(text)
    assert anchor is not None, "no structlog dependency in pyproject.toml"
    pyproject.write_text(text[: anchor.end()] + DEPENDENCY_NEW + text[anchor.end() :])
    _replace_once(project / "README.md", README_OLD, README_NEW)


def keep_both(path: Path) -> None:
    """Resolve the conflicts of ``path`` as docs/updating.md says: for the dependencies, the
    template's lines and the lines of the user's own; for ``from ... import`` lines, one
    line per module with the names of both sides, in the template's order."""

    def merge(conflict: re.Match[str]) -> str:
        ours, theirs = conflict[1].splitlines(keepends=True), conflict[2].splitlines(keepends=True)
        imports = [found for line in theirs + ours if (found := _IMPORT.match(line))]
        if len(imports) == len(theirs + ours):
            modules: dict[str, set[str]] = {}
            for found in imports:
                modules.setdefault(found[1], set()).update(n.strip() for n in found[2].split(","))
            return "".join(f"from {m} import {', '.join(sorted(n))}\n" for m, n in modules.items())
        names = {_name(line) for line in theirs}
        return "".join(theirs + [line for line in ours if _name(line) not in names])

    path.write_text(_CONFLICT.sub(merge, path.read_text(encoding="utf-8")), encoding="utf-8")


def _name(requirement_line: str) -> str:
    found = _REQUIREMENT.match(requirement_line)
    return found[1].lower() if found else requirement_line


def missing_user_edits(project: Path, package: str, mount: str) -> list[str]:
    """The user edits that are not (all) in ``project``."""
    file, _, import_new, _, mount_new = MOUNTS[mount]
    expected = {
        f"{package}/api/v1/routes/hello.py": [HELLO_ROUTE],
        f"{package}/{file}": [import_new.format(package=package), mount_new],
        "tests/test_hello.py": [HELLO_TEST.format(package=package)],
        f"{package}/core/config.py": [SETTING_NEW],
        "pyproject.toml": [DEPENDENCY_NEW],
        "README.md": [README_NEW],
    }
    missing = []
    for relative, texts in expected.items():
        path = project / relative
        content = path.read_text(encoding="utf-8") if path.is_file() else ""
        missing += [
            f"{relative}: lost {text.strip().splitlines()[0]!r}..."
            for text in texts
            if text not in content and not _imported(text, content)
        ]
    return missing


def _imported(line: str, content: str) -> bool:
    """Whether ``content`` imports every name of the import ``line`` from its module, on
    one line of its own that may name more (a conflict resolved by merging the names)."""
    wanted = _IMPORT.match(line)
    if wanted is None:
        return False
    for found in _IMPORT.finditer(content):
        names = {name.strip() for name in found[2].split(",")}
        if found[1] == wanted[1] and {n.strip() for n in wanted[2].split(",")} <= names:
            return True
    return False
