"""Copy ``template/`` to a plain tree that tools reading code as text can compare.

``.jinja`` suffixes go, and the Jinja conditions in file and folder names are flattened to
the name they render to; two files that render to the same name (one per variant) keep
their condition in a suffix, ``queue__worker_celery.py``. Usage::

    uv run python -m tests.flatten_template /tmp/flat && duplicates --repo /tmp/flat

``docs/contributing.md`` says what the duplicate-code check is for.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from tests.variants import REPO_ROOT

CONDITION = re.compile(r"\{%-?\s*if\s+(?P<test>.*?)\s*-?%\}(?P<name>.*?)\{%-?\s*endif\s*-?%\}")
VARIABLES = {"{{package_name}}": "pkg", "{{_copier_conf.answers_file}}": "copier-answers"}


def flat_name(part: str) -> str:
    for variable, value in VARIABLES.items():
        part = part.replace(variable, value)
    return CONDITION.sub(lambda match: match["name"], part)


def flatten(template: Path, destination: Path) -> list[Path]:
    """Write the flat copy of ``template`` to ``destination``; return the files written."""
    shutil.rmtree(destination, ignore_errors=True)
    written: list[Path] = []
    for path in sorted(template.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(template)
        parts = [flat_name(part) for part in relative.parts]
        target = destination.joinpath(*parts).with_name(parts[-1].removesuffix(".jinja"))
        if target.exists():
            tests = "_".join(match["test"] for match in CONDITION.finditer(relative.as_posix()))
            stem, dot, suffix = target.name.partition(".")
            tag = re.sub(r"[^a-z0-9]+", "_", tests.lower()).strip("_")
            target = target.with_name(f"{stem}__{tag}{dot}{suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.flatten_template DESTINATION")
    files = flatten(REPO_ROOT / "template", Path(sys.argv[1]))
    print(f"{len(files)} files in {sys.argv[1]}")
