"""Which transactions wrote: a `TrackedSession` notes it, and `wrote` tells.

`get_session` (api/deps.py) ends a request's transaction that only read with COMMIT
rather than the ROLLBACK that closing the session sends. Both cost one round trip, but
psycopg forgets the statements it has prepared on every ROLLBACK, so PostgreSQL would parse
and plan each query of the next request again (docs: Performance). A write seen here is a
flush of the ORM's changes or a statement other than a SELECT (`UPDATE`, `INSERT`,
`DELETE`, text); what is sent past the session, on its driver's connection, is not seen.
"""

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

WROTE = "wrote"


class TrackedSession(Session):
    """A session that knows whether its transaction has written anything."""


def wrote(session: Session) -> bool:
    """Whether the session's transaction has written anything (so far)."""
    return WROTE in session.info


@event.listens_for(TrackedSession, "after_flush")
def _flushed(session: Session, context: UOWTransaction) -> None:
    session.info[WROTE] = True


@event.listens_for(TrackedSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info[WROTE] = True


@event.listens_for(TrackedSession, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(WROTE, None)
