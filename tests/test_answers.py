"""Answers: defaults derive from the project name; bad answers are refused with a clear
message and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import copier
import pytest

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
    template_root: Path, tmp_path: Path, question: str, answer: str, message: str
) -> None:
    destination = tmp_path / "out"
    data: dict[str, Any] = {**BASE_ANSWERS, question: answer}
    with pytest.raises(ValueError, match=r"Validation error for question") as excinfo:
        support.render(template_root, destination, data)
    text = str(excinfo.value)
    assert f"'{question}'" in text
    assert f'"{answer}"' in text or question == "project_name"
    assert message in text
    assert not destination.exists() or not any(destination.iterdir()), "files were written"


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
