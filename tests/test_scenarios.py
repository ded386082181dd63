"""The table of what each variant runs (tests/scenarios.py) leaves no line unchecked.

Each expensive check runs on a few variants; here, every line of its files that any variant
renders, with the text that variant gives it, comes out the same in a variant that runs the
check. The template is rendered in-process, with each template line marked, for every
variant: no copier, no services.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace

import jinja2
import pytest

from tests import scenarios
from tests.variants import PACKAGE_NAME, VARIANTS, VARIANTS_BY_ID

# One xdist worker renders the template's lines once for all of them.
pytestmark = pytest.mark.xdist_group("scenarios")


@pytest.mark.parametrize("name", sorted(scenarios.CHECKS))
def test_every_line_of_a_check_is_run_by_one_of_its_variants(name: str) -> None:
    check = scenarios.CHECKS[name]
    assert set(check.variants) <= set(VARIANTS_BY_ID), "a check names an unknown variant"
    assert check.why
    assert check.files
    unreached = scenarios.unreached(check)
    assert not unreached, f"{name} does not reach, on {check.variants}:\n" + "\n".join(unreached)


@pytest.mark.parametrize("name", sorted(scenarios.CHECKS))
def test_every_pattern_of_a_check_names_a_rendered_file(name: str) -> None:
    """A check's files exist: a renamed file cannot leave a check with nothing to prove."""
    check = scenarios.CHECKS[name]
    targets = {
        target for renders in scenarios.rendered_lines().values() for target, _ in renders.values()
    }
    for pattern in check.files:
        wanted = pattern.format(package=PACKAGE_NAME)
        assert any(fnmatch.fnmatchcase(target, wanted) for target in targets), pattern


def test_the_proof_can_fail() -> None:
    """Run on its first variant only, a check of files that differ by db_mode and auth
    leaves lines unreached; the marks see a line that differs in one word."""
    guide = scenarios.CHECKS["guide"]
    assert scenarios.unreached(replace(guide, variants=guide.variants[:1]))
    fuzz = scenarios.CHECKS["fuzz"]
    synchronous = tuple(id for id in fuzz.variants if id.startswith("sync-"))
    problems = scenarios.unreached(replace(fuzz, variants=synchronous))
    assert any("await " in problem for problem in problems), problems


def test_the_marks_follow_the_template() -> None:
    """Marked, a template renders the same lines as unmarked, tags and comments left out."""
    source = "a {{ x }}\n{% if y %}\nb\n{% else %}\nc\n{% endif %}\n{# d\ne #}\nf\n"
    marked = scenarios.marked(source)
    environment = jinja2.Environment()
    out = environment.from_string(marked).render(x=1, y=False)
    assert scenarios.lines_of(out) == {(1, "a 1"), (5, "c"), (9, "f")}


def test_a_check_deselects_its_tests_where_it_does_not_run() -> None:
    outage = scenarios.CHECKS["worker_outage"]
    for variant in VARIANTS:
        left_out = scenarios.deselected(variant)
        assert all(test in left_out for test in outage.tests) != outage.runs_on(variant)
