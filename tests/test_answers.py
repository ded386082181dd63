"""Answers: defaults derive from the project name; bad answers are refused with a clear
message and nothing is written."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from tests import support
from tests.variants import BASE_ANSWERS

REFUSED = [
    # (question, answer, words the message must contain)
    ("package_name", "class", "is a Python keyword"),
    ("package_name", "json", "is a standard library module"),
    ("package_name", "fastapi", "is a dependency of the project"),
    ("package_name", "celery", "is a dependency of the project"),
    ("package_name", "test", "clashes with test or build tooling"),
    ("package_name", "1abc", "is not a valid package name"),
    ("project_slug", "My Slug", "is not a valid slug"),
    ("project_slug", "-x", "is not a valid slug"),
    ("author_email", "not-an-email", "is not a valid email address"),
    ("project_name", "   ", "must not be empty"),
]


@pytest.mark.parametrize(
    ("question", "answer", "message"),
    [pytest.param(q, a, m, id=f"{q}={a!r}") for q, a, m in REFUSED],
)
def test_bad_answer_is_refused(
    copie: Any, template_root: Path, question: str, answer: str, message: str
) -> None:
    """Through pytest-copie, as a user's answers: a clear message, and no file written."""
    answers: dict[str, Any] = {**BASE_ANSWERS, question: answer}
    result = copie.copy(extra_answers=answers, template_dir=template_root)
    assert isinstance(result.exception, ValueError)
    text = str(result.exception)
    assert "Validation error for question" in text
    assert f"'{question}'" in text
    assert f'"{answer}"' in text or question == "project_name"
    assert message in text
    written = [path for path in copie.test_dir.rglob("*") if path.is_file()]
    assert not written, f"files were written: {written}"


@pytest.mark.parametrize(
    ("name", "slug", "package"),
    [
        pytest.param("Acme Cloud", "acme-cloud", "acme_cloud", id="plain"),
        pytest.param(
            "  Café Ünïcode SaaS! ", "cafe-unicode-saas", "cafe_unicode_saas", id="unicode"
        ),
        pytest.param("Brain 2", "brain-2", "brain_2", id="digit"),
    ],
)
def test_defaults_derive_from_project_name(
    template_root: Path, tmp_path: Path, name: str, slug: str, package: str
) -> None:
    """``pretend``: the answers are computed and validated, nothing is rendered."""
    worker = copier.run_copy(
        str(template_root),
        str(tmp_path / "out"),
        data={"project_name": name},
        defaults=True,
        unsafe=True,
        quiet=True,
        pretend=True,
    )
    answers = worker.answers.combined
    assert (answers["project_slug"], answers["package_name"]) == (slug, package)
    assert answers["python_version"] == "3.12"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("question", "answer"), [("auth", "flase"), ("docker", "nope")])
def test_a_bool_answer_that_is_no_yes_or_no_is_refused(
    template_root: Path, tmp_path: Path, question: str, answer: str
) -> None:
    """`--data auth=flase` on the command line: copier reads any word but its yes and no
    words as true; the validator refuses it before anything is written."""
    with pytest.raises(ValueError, match=f'"{answer}" is not a yes or a no: answer {question}='):
        copier.run_copy(
            str(template_root),
            str(tmp_path / "out"),
            data={**BASE_ANSWERS, question: answer},
            defaults=True,
            unsafe=True,
            quiet=True,
        )
    assert not (tmp_path / "out").exists()
    accepted = {**BASE_ANSWERS, question: "no"}
    worker = copier.run_copy(
        str(template_root), str(tmp_path / "ok"), data=accepted, defaults=True, unsafe=True,
        quiet=True, pretend=True,
    )  # fmt: skip
    assert worker.answers.combined[question] is False


def test_a_name_that_starts_with_a_digit_asks_for_a_slug(copie: Any, template_root: Path) -> None:
    """Its digits are not dropped without a word ("2nd Brain" was "nd-brain"): the slug
    that keeps them is refused, saying what to answer."""
    result = copie.copy(extra_answers={"project_name": "2nd Brain"}, template_dir=template_root)
    assert isinstance(result.exception, ValueError)
    assert "'project_slug'" in str(result.exception)
    assert "needs a slug of its own: --data project_slug=" in str(result.exception)
    result = copie.copy(
        extra_answers={"project_name": "2nd Brain", "project_slug": "second-brain"},
        template_dir=template_root,
    )
    assert result.exception is None, result.exception


# Answers that land in Python, TOML and YAML strings, and in Markdown.
HOSTILE = {
    "project_name": 'Acme "Cloud" \\ Ünï\'s',
    "description": "A \"quoted\" line with a \\ backslash, a 'quote', a # hash and \\n",
    "author_name": 'Jane "JD" O\'Doe \\',
    "author_email": "jane.o'doe@example.com",
}


def test_hostile_answers_are_read_back_as_given(template_root: Path, tmp_path: Path) -> None:
    """Quotes, backslashes and a hash in the free-text answers: every Python file compiles,
    every TOML and YAML file parses, and each answer reads back as it was given."""
    project = support.render(
        template_root,
        tmp_path / "project",
        {**HOSTILE, "worker": "celery", "python_version": "3.11"},
    )
    for path in project.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        yaml.safe_load(path.read_text(encoding="utf-8"))
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == HOSTILE["description"]
    author = {"name": HOSTILE["author_name"], "email": HOSTILE["author_email"]}
    assert pyproject["project"]["authors"] == [author]
    config = ast.parse((project / "acme_cloud_uni_s" / "core" / "config.py").read_text())
    defaults = {
        node.target.id: node.value
        for node in ast.walk(config)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value
    }
    assert ast.literal_eval(defaults["PROJECT_NAME"]) == HOSTILE["project_name"]
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# {HOSTILE['project_name']}\n")
