"""Unit tests of the template's Jinja extensions (``extensions/context.py``)."""

from __future__ import annotations

import ast
import keyword
import tomllib
from typing import Any

import pytest
import yaml
from jinja2 import Environment

from extensions.context import (
    DEPENDENCY_NAMES,
    SaasContext,
    SaasHelpers,
    package_name_problem,
    quoted,
    random_secret,
    regex_search,
    slugify,
)


@pytest.mark.parametrize("name", ["acme_cloud", "app2", "_private", "billing"])
def test_package_name_accepted(name: str) -> None:
    assert package_name_problem(name) == ""


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("class", "Python keyword"),
        ("match", "Python keyword"),  # a soft keyword
        ("json", "standard library"),
        ("typing", "standard library"),
        ("fastapi", "dependency"),
        ("celery", "dependency"),
        ("sqlalchemy", "dependency"),
        ("test", "clashes with test"),
        ("tests", "clashes with test"),
        ("1abc", "not a valid package name"),
        ("Acme", "not a valid package name"),
        ("acme-cloud", "not a valid package name"),
        ("", "not a valid package name"),
        ("acme cloud", "not a valid package name"),
    ],
)
def test_package_name_refused(name: str, reason: str) -> None:
    problem = package_name_problem(name)
    assert reason in problem
    assert f'"{name}"' in problem


def test_every_dependency_name_is_refused() -> None:
    for name in DEPENDENCY_NAMES:
        assert package_name_problem(name), name


def test_no_keyword_is_accepted() -> None:
    for name in [*keyword.kwlist, *keyword.softkwlist]:
        if name.isidentifier() and name.islower():
            assert package_name_problem(name), name


@pytest.mark.parametrize(
    ("value", "slug"),
    [
        ("Acme Cloud", "acme-cloud"),
        ("Acme Cloud!", "acme-cloud"),
        ("  spaced   out  ", "spaced-out"),
        ("Café Ünïcode", "cafe-unicode"),
        ("snake_case_name", "snake-case-name"),
        # Digits stay: a leading one makes a slug the validator refuses (test_answers.py).
        ("2nd Brain", "2nd-brain"),
        ("123", "123"),
        ("already-a-slug", "already-a-slug"),
    ],
)
def test_slugify(value: str, slug: str) -> None:
    assert slugify(value) == slug


def test_slugify_output_is_a_valid_slug() -> None:
    for value in ["Acme Cloud", "Ünïcode — dashes", "x--y", "A1 B2"]:
        assert regex_search(slugify(value), r"^[a-z][a-z0-9-]*$"), value


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("acme-cloud", r"^[a-z][a-z0-9-]*$", True),
        ("My Slug", r"^[a-z][a-z0-9-]*$", False),
        ("jane@example.com", r"@", True),
        ("prefix match", r"match", True),  # search, not fullmatch
        ("", r".", False),
    ],
)
def test_regex_search(value: str, pattern: str, expected: bool) -> None:
    assert regex_search(value, pattern) is expected


@pytest.mark.parametrize(
    "value", ["plain", 'a "quoted" one', "back\\slash", "it's", "tab\there", "Ünï # hash"]
)
def test_quoted_reads_back_in_python_and_toml(value: str) -> None:
    literal = quoted(value)
    assert ast.literal_eval(literal) == value
    assert tomllib.loads(f"key = {literal}")["key"] == value
    assert yaml.safe_load(f"key: {literal}")["key"] == value


def test_random_secret_is_long_and_unique() -> None:
    secrets = {random_secret() for _ in range(200)}
    assert len(secrets) == 200
    assert all(len(secret) >= 43 for secret in secrets)  # 32 bytes, base64url
    assert all(regex_search(s, r"^[A-Za-z0-9_-]+$") for s in secrets)
    assert len(random_secret(64)) > len(random_secret(16))


def test_helpers_are_registered_in_jinja() -> None:
    env = Environment(extensions=[SaasHelpers])
    template = env.from_string(
        "{{ 'Acme Cloud' | slugify }} {{ 'abc' | regex_search('^a') }} "
        "{{ package_name_problem('ok_name') == '' }} {{ random_secret() | length > 40 }}"
    )
    assert template.render() == "acme-cloud True True True"


def _context(**answers: Any) -> dict[str, Any]:
    return {
        "_copier_conf": {},
        "db_mode": "async",
        "worker": "none",
        "python_version": "3.12",
        **answers,
    }


def _hook(context: dict[str, Any]) -> dict[str, Any]:
    SaasContext(Environment()).hook(context)
    return context


def test_context_hook_derives_flags() -> None:
    context = _hook(_context())
    assert context["is_async"] is True
    assert context["has_worker"] is False
    assert context["uses_redis"] is False
    assert context["uses_rabbitmq"] is False
    assert context["python_version_nodot"] == "312"


@pytest.mark.parametrize(
    ("worker", "broker", "redis", "rabbitmq"),
    [
        ("celery", "redis", True, False),
        ("celery", "rabbitmq", False, True),
        ("rq", None, True, False),
        ("taskiq", None, True, False),
        ("procrastinate", None, False, False),
    ],
)
def test_context_hook_brokers(worker: str, broker: str | None, redis: bool, rabbitmq: bool) -> None:
    extra = {"celery_broker": broker} if broker else {}
    context = _hook(_context(db_mode="sync", worker=worker, **extra))
    assert context["is_async"] is False
    assert context["has_worker"] is True
    assert (context["uses_redis"], context["uses_rabbitmq"]) == (redis, rabbitmq)


def test_context_hook_returns_early_when_prompting() -> None:
    context = {"_copier_conf": {}, "_copier_phase": "prompt"}  # no answers yet
    assert _hook(dict(context)) == context


def test_context_hook_is_used_by_jinja() -> None:
    env = Environment(extensions=[SaasContext])
    template = env.from_string("{{ is_async }} {{ python_version_nodot }}")
    assert template.render(**_context(db_mode="sync", python_version="3.13")) == "False 313"
