"""``copier update`` on a project with a migrated database that has rows in it.

A project is rendered from the previous release, migrated, and given rows through its API;
then it is updated (with the same answers, or turning features on and off as
docs/updating.md shows), migrated with ``alembic upgrade heads``, checked for drift with
``alembic check``, and served again: the rows are still there. Between them the cases apply
every revision of the template once, on a database that had rows before:

- same answers, ``auth`` and ``procrastinate`` (0.2.0's single revision made everything):
  ``auth_0001``, ``jobs_0001``, ``jobs_auth_0001`` and ``procrastinate_0001`` adopt the
  tables that are there, and the revisions made after 0.2.0 (``auth_0002`` to
  ``auth_0005``, ``jobs_0002``) create theirs, giving each user a personal organization that
  takes their items;
- ``auth`` off to on, then ``worker`` none to procrastinate: each of them creates its tables;
- procrastinate to celery: the documented downgrade of a feature that is turned off, and
  the refusal when it is forgotten.

celery, rq and taskiq share the ``jobs`` revisions, so one of them stands for the three.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import served, support
from tests import update_helpers as uh
from tests.variants import BASE_ANSWERS, PACKAGE_NAME

pytestmark = [pytest.mark.services, pytest.mark.slow]

# The newest revision of the auth branch: where every project with auth ends up.
AUTH_HEAD = "auth_0005"
# The jobs branch's heads with auth: the owner column (after auth's users) and the outbox.
JOBS_HEADS = ("jobs_auth_0001", "jobs_0002")


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> uh.Releases:
    return uh.make_releases(support.REPO_ROOT, tmp_path_factory.mktemp("releases") / "template")


@pytest.fixture
def database(postgres: str) -> Iterator[str]:
    with support.temporary_database(support.database_name("update_db")) as url:
        yield url


class Project:
    """A rendered project under git, with its environment and its database."""

    def __init__(self, path: Path, database_url: str) -> None:
        self.path = path
        self.env = support.clean_env({"DATABASE_URL": database_url})
        self.conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")

    def sync(self) -> None:
        """`uv sync`, and its lock file committed, as a user does."""
        python = support.find_python(BASE_ANSWERS["python_version"])
        assert python is not None, f"Python {BASE_ANSWERS['python_version']} is missing"
        support.run(["uv", "sync", "--python", python, "--group", "dev"], cwd=self.path)
        uh.commit_all(self.path, "uv.lock")

    def run(self, *args: str) -> str:
        return support.run([*served.UV_RUN, *args], cwd=self.path, env=self.env).stdout

    def migrate(self) -> None:
        """`alembic upgrade heads`, then `alembic check`: the models and the schema agree."""
        self.run("alembic", "upgrade", "heads")
        self.run("alembic", "check")

    def update(self, releases: uh.Releases, **answers: Any) -> None:
        uh.update(self.path, releases.new, data=answers)
        problems = uh.conflicts(self.path)
        assert not problems, "\n".join(problems)
        uh.commit_all(self.path, f"Update {answers or 'to the new release'}")
        self.sync()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo) as connection:
            return connection.execute(sql).fetchall()

    def revisions(self) -> set[str]:
        """The heads the database is at (their dependencies are applied with them)."""
        return {row[0] for row in self.query("SELECT version_num FROM alembic_version")}


def render(releases: uh.Releases, ref: str, path: Path, url: str, **answers: Any) -> Project:
    project = Project(uh.render_release(releases, ref, path, {**BASE_ANSWERS, **answers}), url)
    project.sync()
    project.run("python", "-m", f"{PACKAGE_NAME}.prestart")
    return project


@pytest.mark.xdist_group("update-database-adopt")
def test_update_with_the_same_answers_adopts_the_previous_schema(
    releases: uh.Releases, tmp_path: Path, database: str
) -> None:
    # 0.2.0 is the last release with one revision for every table.
    project = render(
        releases, "v0.2.0", tmp_path / "p", database, auth=True, worker="procrastinate"
    )
    with served.serve(project.path, project.env) as server:
        headers = server.register_and_login("early@example.com")
        for title in ("one", "two"):
            assert (
                server.request("POST", "/api/v1/items/", headers, json_body={"title": title})[0]
                == 201
            )
        assert server.request("POST", "/api/v1/jobs/example?name=early", headers)[0] == 202
    assert project.revisions() == {"0001"}

    project.update(releases)
    project.migrate()
    assert project.revisions() == {AUTH_HEAD, *JOBS_HEADS, "procrastinate_0001"}
    assert project.query("SELECT title FROM items ORDER BY title") == [("one",), ("two",)]
    assert project.query("SELECT name, status FROM job_results") == [("early", "queued")]
    with served.serve(project.path, project.env) as server:
        headers = server.login("early@example.com")
        status, page = server.request("GET", "/api/v1/items/", headers)
        assert (status, page["total"]) == (200, 2)


@pytest.mark.xdist_group("update-database-on")
def test_turning_features_on_keeps_the_rows(
    releases: uh.Releases, tmp_path: Path, database: str
) -> None:
    """docs/updating.md, from a project without auth or worker whose database has items."""
    project = render(
        releases, releases.previous, tmp_path / "p", database, auth=False, worker="none"
    )
    with served.serve(project.path, project.env) as server:
        for title in ("alpha", "beta", "gamma"):
            assert server.request("POST", "/api/v1/items/", json_body={"title": title})[0] == 201
    items = project.query("SELECT id, title FROM items ORDER BY title")
    assert len(items) == 3

    # auth off -> on: the items stay, with no owner nor organization, until prestart
    # creates the first superuser, whose organization adopts them.
    project.update(releases, auth=True)
    project.migrate()
    assert project.query("SELECT id, title FROM items ORDER BY title") == items
    assert project.query("SELECT count(*) FROM items WHERE org_id IS NULL") == [(3,)]

    # worker none -> procrastinate: job_results (with owners) and procrastinate's schema.
    project.update(releases, worker="procrastinate")
    project.migrate()
    assert project.revisions() == {AUTH_HEAD, *JOBS_HEADS, "procrastinate_0001"}
    project.run("python", "-m", f"{PACKAGE_NAME}.prestart")  # creates the first superuser
    with served.serve(project.path, project.env) as server:
        headers = server.register_and_login("late@example.com")
        status, me = server.request("GET", "/api/v1/users/me", headers)
        assert (status, me["email"]) == (200, "late@example.com")
        assert server.request("POST", "/api/v1/jobs/example?name=late", headers)[0] == 202
        assert server.request("GET", "/api/v1/items/", headers)[1]["total"] == 0
        admin = server.login("admin@example.com", "changethis")  # .env predates auth
        status, page = server.request("GET", "/api/v1/items/", admin)
        assert (status, page["total"]) == (200, 3)
    # The updated project is a fresh render with these answers (tests/test_update.py), whose
    # whole suite tests/test_variants.py runs: here, its smoke tests on this database's server.
    project.run("pytest", "-q", "-m", "smoke", "-p", "no:cacheprovider")


@pytest.mark.xdist_group("update-database-off")
def test_turning_a_feature_off_downgrades_it_first(
    releases: uh.Releases, tmp_path: Path, database: str
) -> None:
    """procrastinate to celery: its branch must be downgraded before the update; forgetting
    it is refused before any change."""
    project = render(releases, releases.new, tmp_path / "p", database, worker="procrastinate")
    with served.serve(project.path, project.env) as server:
        headers = server.register_and_login("user@example.com")
        assert (
            server.request("POST", "/api/v1/items/", headers, json_body={"title": "kept"})[0] == 201
        )
        assert server.request("POST", "/api/v1/jobs/example?name=kept", headers)[0] == 202
    assert project.revisions() == {AUTH_HEAD, *JOBS_HEADS, "procrastinate_0001"}

    # Forgetting the downgrade: refused, and the database is as it was.
    uh.update(project.path, releases.new, data={"worker": "celery"})
    refused = support.run(
        [*served.UV_RUN, "alembic", "upgrade", "heads"],
        cwd=project.path,
        env=project.env,
        expect_failure=True,
    )
    assert "procrastinate_0001, which this project does not have" in refused.stderr
    assert "alembic downgrade procrastinate@base" in refused.stderr
    assert project.revisions() == {AUTH_HEAD, *JOBS_HEADS, "procrastinate_0001"}
    uh.git(project.path, "reset", "--quiet", "--hard")
    uh.git(project.path, "clean", "--quiet", "-d", "--force")

    # As docs/updating.md says: downgrade the feature first, then update.
    project.run("alembic", "downgrade", "procrastinate@base")
    project.update(releases, worker="celery")
    project.migrate()
    assert project.revisions() == {AUTH_HEAD, *JOBS_HEADS}
    assert project.query("SELECT to_regclass('procrastinate_jobs')") == [(None,)]
    assert project.query("SELECT title FROM items") == [("kept",)]
    # The example job (beside the registration's email, a job too).
    assert project.query("SELECT name FROM job_results WHERE task = 'example'") == [("kept",)]
    with served.serve(project.path, project.env) as server:
        headers = server.login("user@example.com")
        assert server.request("GET", "/api/v1/items/", headers)[1]["total"] == 1
