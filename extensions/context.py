"""Jinja extensions of the template: helpers for questions and derived context.

Loaded by copier through copier-template-extensions (see ``_jinja_extensions``).
Everything here is pure and small; ``tests/test_extensions.py`` covers it.
"""

from __future__ import annotations

import keyword
import re
import secrets
import sys
import unicodedata
from typing import Any

from copier_template_extensions import ContextHook
from jinja2 import Environment
from jinja2.ext import Extension

# Distributions a generated project can depend on: a package of the same name would
# shadow them (``import fastapi`` would import the project itself).
DEPENDENCY_NAMES = frozenset(
    {
        "alembic",
        "anyio",
        "argon2",
        "asyncpg",
        "celery",
        "email_validator",
        "fastapi",
        "httpx",
        "jose",
        "kombu",
        "mypy",
        "passlib",
        "procrastinate",
        "psycopg",
        "psycopg_pool",
        "pydantic",
        "pydantic_settings",
        "pytest",
        "redis",
        "rq",
        "ruff",
        "sqlalchemy",
        "starlette",
        "structlog",
        "taskiq",
        "taskiq_redis",
        "uvicorn",
    }
)
# Names that are legal but break tooling or read as a mistake.
RESERVED_NAMES = frozenset(
    {"test", "tests", "app_test", "src", "site", "setup", "main", "conftest"}
)

PACKAGE_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def package_name_problem(name: str) -> str:
    """Return why ``name`` cannot be the generated package's name, or ``""`` if it can."""
    if not PACKAGE_RE.match(name):
        return (
            f'"{name}" is not a valid package name: use lowercase letters, digits and '
            "underscores, starting with a letter or underscore."
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f'"{name}" is a Python keyword; choose another package name.'
    if name in sys.stdlib_module_names:
        return f'"{name}" is a standard library module; choose another package name.'
    if name in DEPENDENCY_NAMES:
        return f'"{name}" is a dependency of the project; choose another package name.'
    if name in RESERVED_NAMES:
        return f'"{name}" clashes with test or build tooling; choose another package name.'
    return ""


def slugify(value: str) -> str:
    """Turn a project name into a slug: ``"Acme Cloud!"`` -> ``"acme-cloud"``."""
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_value.lower()).strip("-")
    # A slug starts with a letter.
    return re.sub(r"^[0-9-]+", "", slug)


def regex_search(value: str, pattern: str) -> bool:
    """Jinja filter: does ``pattern`` match anywhere in ``value``?"""
    return re.search(pattern, value) is not None


def random_secret(nbytes: int = 32) -> str:
    """A fresh URL-safe secret, generated at render time (never stored in answers)."""
    return secrets.token_urlsafe(nbytes)


class SaasHelpers(Extension):
    """Filters and globals used by ``copier.yml`` and the templates."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["slugify"] = slugify
        environment.filters["regex_search"] = regex_search
        environment.globals["package_name_problem"] = package_name_problem
        environment.globals["random_secret"] = random_secret


class SaasContext(ContextHook):
    """Derived values, so templates test one flag instead of repeating conditions."""

    def hook(self, context: dict[str, Any]) -> None:
        # The prompt phase has no answers yet; `copier update` renders the `_migrations`
        # commands without the answers: nothing to derive in either.
        if context.get("_copier_phase") == "prompt" or "worker" not in context:
            return
        worker = context["worker"]
        context["is_async"] = context["db_mode"] == "async"
        context["has_worker"] = worker != "none"
        context["uses_redis"] = worker in {"rq", "taskiq"} or (
            worker == "celery" and context.get("celery_broker", "redis") == "redis"
        )
        context["uses_rabbitmq"] = worker == "celery" and context.get("celery_broker") == "rabbitmq"
        context["python_version_nodot"] = context["python_version"].replace(".", "")
