"""Answers: defaults derive from the project name; bad answers are refused with a clear
message and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import copier
import pytest

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
        pytest.param("2nd Brain", "nd-brain", "nd_brain", id="leading-digit"),
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
