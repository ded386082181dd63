"""The hand-written floors of the benchmark: what each measured route costs done by hand.

Served by ``python -m tests.bench`` beside each variant, in the variant's environment (the
same FastAPI, uvicorn, python-jose and psycopg, with psycopg_pool added), on the variant's
database and with its ``SECRET_KEY``: ``floor_app:async_app`` or ``floor_app:sync_app``
(``--factory``), by the variant's db_mode; ``FLOOR_AUTH=0`` for a variant without auth.

Each route gives the same answer as the variant's, for the same token: the token decoded
with the same library and options, then ONE query by primary key of the user and the login
(revoked, generation, active), then the route's own queries (the items page and its total,
or the insert) on the same connection of a psycopg 3 pool in autocommit, whose statements
psycopg prepares after a few runs; a Pydantic model answers. What a floor leaves out, so
that the ratio to it is the price of the rest: a transaction per request, the ORM, a
check of the connection at checkout, the middlewares (request id and log line, security
headers, limits, CORS), problem+json errors (a bad token is a bare 401) and the settings
object. docs/performance.md, "The floors", says so too.

Not a module of the template's own environment (FastAPI is not installed there), so mypy
leaves it out (pyproject.toml); it is run by every benchmark.
"""

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.security import OAuth2PasswordBearer
from psycopg import AsyncConnection, Connection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from pydantic import BaseModel

SECRET_KEY = os.environ["SECRET_KEY"]
ALGORITHM = os.environ.get("JWT_ALGORITHM", "HS256")
CONNINFO = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "10"))
AUTH = os.environ.get("FLOOR_AUTH", "1") == "1"
if AUTH:  # python-jose is installed with auth only
    from jose import JWTError, jwt
# Both pools: as many connections as the variant's pool, in autocommit, rows as dicts.
POOL: dict[str, Any] = {
    "min_size": POOL_SIZE,
    "kwargs": {"autocommit": True, "row_factory": dict_row},
    "open": False,
}

CURRENT = """
SELECT u.id, u.email, u.full_name, u.role, u.is_active, u.is_verified, u.created_at,
       u.personal_org_id, s.revoked_at, s.generation
FROM users u JOIN user_sessions s ON s.user_id = u.id
WHERE u.id = %s AND s.id = %s
"""
# The items' queries, with auth (in the caller's personal organization) and without.
if AUTH:
    COUNT = "SELECT count(*) AS total FROM items WHERE org_id = %(org)s"
    PAGE = """
    SELECT id, title, description, created_at, updated_at, org_id, owner_id FROM items
    WHERE org_id = %(org)s ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s
    """
    INSERT = """
    INSERT INTO items (id, title, description, created_at, updated_at, org_id, owner_id)
    VALUES (%(id)s, %(title)s, %(description)s, now(), now(), %(org)s, %(owner)s)
    RETURNING id, title, description, created_at, updated_at, org_id, owner_id
    """
else:
    COUNT = "SELECT count(*) AS total FROM items"
    PAGE = """
    SELECT id, title, description, created_at, updated_at FROM items
    ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s
    """
    INSERT = """
    INSERT INTO items (id, title, description, created_at, updated_at)
    VALUES (%(id)s, %(title)s, %(description)s, now(), now())
    RETURNING id, title, description, created_at, updated_at
    """

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=AUTH)
Token = Annotated[str | None, Depends(oauth2_scheme)]
T = TypeVar("T")


class UserRead(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str | None
    role: str
    is_active: bool
    is_verified: bool
    created_at: datetime


class ItemCreate(BaseModel):
    title: str
    description: str | None = None


class UnscopedItemRead(BaseModel):
    id: uuid.UUID
    title: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class ScopedItemRead(UnscopedItemRead):
    org_id: uuid.UUID | None
    owner_id: uuid.UUID | None


ItemRead = ScopedItemRead if AUTH else UnscopedItemRead


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


def claims_of(token: str | None) -> tuple[uuid.UUID, uuid.UUID, int]:
    """The user, login and generation of a valid access token, decoded as core/security.py
    does; a bare 401 otherwise."""
    try:
        claims = jwt.decode(
            token or "",
            SECRET_KEY,
            algorithms=[ALGORITHM],
            options={"require_exp": True, "require_iat": True, "require_sub": True},
        )
        if claims.get("type") != "access":
            raise ValueError("not an access token")
        return uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), int(claims["gen"])
    except (JWTError, KeyError, TypeError, ValueError) as exc:
        raise HTTPException(401) from exc


def checked(row: dict[str, Any] | None, generation: int) -> dict[str, Any]:
    if row is None or row["revoked_at"] is not None or row["generation"] != generation:
        raise HTTPException(401)
    if not row["is_active"]:
        raise HTTPException(401)
    return row


def page(
    rows: list[dict[str, Any]], total: dict[str, Any] | None, offset: int, limit: int
) -> Page[ItemRead]:
    return Page(
        items=[ItemRead.model_validate(row) for row in rows],
        total=total["total"] if total else 0,
        offset=offset,
        limit=limit,
    )


def new_item(data: ItemCreate, user: dict[str, Any] | None) -> dict[str, Any]:
    """The values of a new item's row: in the caller's personal organization, with auth."""
    values = {**data.model_dump(), "id": uuid.uuid4()}
    if user is not None:
        values |= {"org": user["personal_org_id"], "owner": user["id"]}
    return values


def new_app(lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> FastAPI:
    """An app with bare FastAPI's `/health`, as the variants' start is timed on it."""
    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def async_app() -> FastAPI:
    pool = AsyncConnectionPool(CONNINFO, **POOL)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=True)
        yield
        await pool.close()

    async def connection() -> AsyncIterator[AsyncConnection[Any]]:
        async with pool.connection() as conn:
            yield conn

    Conn = Annotated[AsyncConnection[Any], Depends(connection)]

    async def current(conn: Conn, token: Token) -> dict[str, Any] | None:
        if not AUTH:
            return None
        user_id, session_id, generation = claims_of(token)
        cursor = await conn.execute(CURRENT, (user_id, session_id))
        return checked(await cursor.fetchone(), generation)

    User = Annotated[dict[str, Any] | None, Depends(current)]
    app = new_app(lifespan)

    @app.get("/api/v1/users/me")
    async def read_me(user: User) -> UserRead:
        return UserRead.model_validate(user)

    @app.get("/api/v1/items/")
    async def list_items(
        conn: Conn,
        user: User,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Page[ItemRead]:
        values = {"org": user and user["personal_org_id"], "limit": limit, "offset": offset}
        total = await (await conn.execute(COUNT, values)).fetchone()
        rows = await (await conn.execute(PAGE, values)).fetchall()
        return page(rows, total, offset, limit)

    @app.post("/api/v1/items/", status_code=201)
    async def create_item(conn: Conn, user: User, data: ItemCreate) -> ItemRead:
        values = new_item(data, user)
        row = await (await conn.execute(INSERT, values)).fetchone()
        return ItemRead.model_validate(row)

    return app


def sync_app() -> FastAPI:
    """The same routes with psycopg's blocking pool: each route that queries is one plain
    `def`, run in FastAPI's thread pool, holding its connection only in that thread (a
    thread waiting for a connection never holds one another thread needs)."""
    pool = ConnectionPool(CONNINFO, **POOL)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        yield
        pool.close()

    def current(conn: Connection[Any], token: str | None) -> dict[str, Any] | None:
        if not AUTH:
            return None
        user_id, session_id, generation = claims_of(token)
        return checked(conn.execute(CURRENT, (user_id, session_id)).fetchone(), generation)

    app = new_app(lifespan)

    @app.get("/api/v1/users/me")
    def read_me(token: Token) -> UserRead:
        with pool.connection() as conn:
            return UserRead.model_validate(current(conn, token))

    @app.get("/api/v1/items/")
    def list_items(
        token: Token,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Page[ItemRead]:
        with pool.connection() as conn:
            user = current(conn, token)
            values = {"org": user and user["personal_org_id"], "limit": limit, "offset": offset}
            total = conn.execute(COUNT, values).fetchone()
            rows = conn.execute(PAGE, values).fetchall()
        return page(rows, total, offset, limit)

    @app.post("/api/v1/items/", status_code=201)
    def create_item(token: Token, data: ItemCreate) -> ItemRead:
        with pool.connection() as conn:
            values = new_item(data, current(conn, token))
            row = conn.execute(INSERT, values).fetchone()
        return ItemRead.model_validate(row)

    return app
