"""Jinja extensions of the template: helpers for questions and derived context.

Loaded by copier through copier-template-extensions (see ``_jinja_extensions``).
Everything here is pure and small; ``tests/test_extensions.py`` covers it.
"""

from __future__ import annotations

import json
import keyword
import re
import secrets
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any

from copier_template_extensions import ContextHook
from jinja2 import Environment, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context

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
    """Turn a project name into a slug: ``"Acme Cloud!"`` -> ``"acme-cloud"``. Digits stay
    where they are: a name that starts with one gives a slug that the slug's validator
    refuses, so the user chooses one (nothing is dropped without a word)."""
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_value.lower()).strip("-")


def quoted(value: str) -> str:
    """Jinja filter: ``value`` as a double-quoted string literal that Python, TOML and YAML
    all read back as ``value`` (quotes, backslashes and control characters escaped)."""
    return json.dumps(value, ensure_ascii=False)


# What copier reads as a yes or a no for a bool question (copier's own `cast_to_bool`).
BOOL_WORDS = frozenset(
    {"y", "yes", "t", "true", "on", "n", "no", "f", "false", "off", "~", "null", "none", "0", "1"}
)


def bool_problem(question: str, conf: Any) -> str:
    """Why the answer given to the bool ``question`` on the command line (``--data``) is no
    yes or no, or ``""``. copier reads any other word as true: ``auth=flase`` would be."""
    data = conf.get("data") if isinstance(conf, Mapping) else getattr(conf, "data", None)
    given = (data or {}).get(question)
    if isinstance(given, str) and given.strip().lower() not in BOOL_WORDS:
        return f'"{given}" is not a yes or a no: answer {question}=true or {question}=false.'
    return ""


def regex_search(value: str, pattern: str) -> bool:
    """Jinja filter: does ``pattern`` match anywhere in ``value``?"""
    return re.search(pattern, value) is not None


def random_secret(nbytes: int = 32) -> str:
    """A fresh URL-safe secret, generated at render time (never stored in answers)."""
    return secrets.token_urlsafe(nbytes)


def worker_command(worker: str, package: str) -> list[str]:
    """The command that starts a real worker process of ``worker``, as a list of arguments:
    the same for every queue, ``python -m <package>.worker``, which reads the project's
    settings and runs the queue's own command line with them (``worker/__main__.py``).

    The one place that spells it: the generated README, compose.yaml and test suite, and the
    template's own tests, all read it from here.
    """
    if worker == "none":
        raise ValueError("no worker process for worker='none'")
    return ["python", "-m", f"{package}.worker"]


def mode_tokens(is_async: bool) -> dict[str, str]:
    """The few words in which async and sync code differ, so one template writes both.

    ``{{ async_ }}def get(session: {{ Session }}) -> Item:`` and ``{{ await_ }}session.get(...)``
    render as hand-written code for either mode.
    """
    if is_async:
        return {
            "async_": "async ",
            "await_": "await ",
            "Session": "AsyncSession",
            "Engine": "AsyncEngine",
            "Iterator": "AsyncIterator",
            "contextmanager": "asynccontextmanager",
            "session_module": "sqlalchemy.ext.asyncio",
            "sessionmaker": "async_sessionmaker",
        }
    return {
        "async_": "",
        "await_": "",
        "Session": "Session",
        "Engine": "Engine",
        "Iterator": "Iterator",
        "contextmanager": "contextmanager",
        "session_module": "sqlalchemy.orm",
        "sessionmaker": "sessionmaker",
    }


@pass_context
def _worker_command_of_context(context: Context) -> list[str]:
    """Jinja global: ``worker_command()`` for the rendered variant."""
    return worker_command(context["worker"], context["package_name"])


class SaasHelpers(Extension):
    """Filters and globals used by ``copier.yml`` and the templates."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["slugify"] = slugify
        environment.filters["regex_search"] = regex_search
        environment.filters["quoted"] = quoted
        environment.globals["bool_problem"] = bool_problem
        environment.globals["package_name_problem"] = package_name_problem
        environment.globals["random_secret"] = random_secret
        environment.globals["worker_command"] = _worker_command_of_context


def derived_values(answers: dict[str, Any]) -> dict[str, Any]:
    """What the templates test instead of repeating conditions, derived from the answers.

    The template's own tests call it too, so they never re-derive a value on their own.
    """
    worker = answers["worker"]
    is_async = answers["db_mode"] == "async"
    values: dict[str, Any] = {
        "is_async": is_async,
        "has_worker": worker != "none",
        "uses_redis": worker in {"rq", "taskiq"}
        or (worker == "celery" and answers.get("celery_broker", "redis") == "redis"),
        "uses_rabbitmq": worker == "celery" and answers.get("celery_broker") == "rabbitmq",
        "python_version_nodot": answers.get("python_version", "3.12").replace(".", ""),
        **mode_tokens(is_async),
    }
    return values


class SaasContext(ContextHook):
    """Adds :func:`derived_values` to the rendering context."""

    def hook(self, context: dict[str, Any]) -> None:
        # The prompt phase has no answers yet; `copier update` renders the `_migrations`
        # commands without the answers: nothing to derive in either.
        if context.get("_copier_phase") == "prompt" or "worker" not in context:
            return
        context.update(derived_values(context))
