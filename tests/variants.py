"""The one list of supported variants, derived from ``copier.yml``'s choices.

Every combination of ``db_mode`` x ``auth`` x ``worker`` is a supported variant
(2 x 2 x 5 = 20). Each test that needs "all variants" uses :data:`VARIANTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from extensions.context import derived_values, worker_command

REPO_ROOT = Path(__file__).resolve().parent.parent

# Answers shared by every rendered project; everything else keeps its default. Its
# python_version is every variant's but those of INTERPRETERS (below).
BASE_ANSWERS: dict[str, Any] = {"project_name": "Acme Cloud", "python_version": "3.12"}
PACKAGE_NAME = "acme_cloud"  # derived from BASE_ANSWERS["project_name"]


def load_questions(template_root: Path = REPO_ROOT) -> dict[str, Any]:
    """The questions of ``copier.yml`` (configuration keys, starting with ``_``, left out)."""
    data = yaml.safe_load((template_root / "copier.yml").read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}


def choices(question: str, template_root: Path = REPO_ROOT) -> list[Any]:
    """The values a choice question accepts (copier allows a list or a label -> value map)."""
    spec = load_questions(template_root)[question]
    if spec.get("type") == "bool":
        return [True, False]
    raw = spec["choices"]
    values = list(raw.values()) if isinstance(raw, dict) else list(raw)
    # A choice may itself be a mapping with a "value" key (copier's extended form).
    return [value["value"] if isinstance(value, dict) else value for value in values]


@dataclass(frozen=True)
class Variant:
    db_mode: str
    auth: bool
    worker: str
    # Asked only when worker=celery; None keeps copier's default (redis).
    celery_broker: str | None = None
    # The python_version answer, and the interpreter its stages run on.
    python_version: str = BASE_ANSWERS["python_version"]

    @property
    def id(self) -> str:
        """Reads like the answers: ``async-auth-none``, ``sync-noauth-celery-rabbitmq``."""
        broker = f"-{self.celery_broker}" if self.celery_broker else ""
        return f"{self.db_mode}-{'auth' if self.auth else 'noauth'}-{self.worker}{broker}"

    @property
    def answers(self) -> dict[str, Any]:
        answers = {
            **BASE_ANSWERS,
            "python_version": self.python_version,
            "db_mode": self.db_mode,
            "auth": self.auth,
            "worker": self.worker,
        }
        if self.celery_broker:
            answers["celery_broker"] = self.celery_broker
        return answers

    @property
    def derived(self) -> dict[str, Any]:
        """The values ``extensions/context.py`` derives for this variant (``uses_redis``...)."""
        return derived_values(self.answers)

    @property
    def services(self) -> list[str]:
        """The services its project's tests and processes need, as fixture names."""
        derived = self.derived
        return (
            ["postgres"]
            + ["redis"] * derived["uses_redis"]
            + ["rabbitmq"] * derived["uses_rabbitmq"]
        )

    def worker_command(self) -> list[str]:
        """Its worker process's command, as the generated README and compose file give it."""
        return worker_command(self.worker, PACKAGE_NAME)


# Each other python_version choice on a worker-less variant, which runs the whole generated
# suite: the oldest on sync, the newest on async (asyncio is where a new Python deprecates).
# 3.11 renders schemas/common.py in a form of its own: also on a variant that the fuzz and
# the client run on (tests/scenarios.py).
INTERPRETERS = {"sync-auth-none": "3.11", "sync-auth-taskiq": "3.11", "async-auth-none": "3.13"}


def _with_interpreter(variant: Variant) -> Variant:
    python = INTERPRETERS.get(variant.id)
    return replace(variant, python_version=python) if python else variant


VARIANTS: list[Variant] = [
    _with_interpreter(Variant(db_mode, auth, worker))
    for db_mode in choices("db_mode")
    for auth in choices("auth")
    for worker in choices("worker")
] + [
    # celery's other broker (every other variant uses the default, redis), once per db_mode.
    Variant("async", True, "celery", celery_broker="rabbitmq"),
    Variant("sync", False, "celery", celery_broker="rabbitmq"),
]
VARIANTS_BY_ID: dict[str, Variant] = {variant.id: variant for variant in VARIANTS}

PYTHON_VERSIONS: list[str] = [str(version) for version in choices("python_version")]
assert {v.python_version for v in VARIANTS} == set(PYTHON_VERSIONS), "see INTERPRETERS"
