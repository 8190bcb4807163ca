"""The audit log's hash chain detects an edited, a deleted and a swapped row."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import make_org
from townhall.cli import app
from townhall.governance import audit
from townhall.governance.models import AuditEvent


def _ids(session: Session) -> list[int]:
    return list(session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def test_intact_chain_verifies(sessions: sessionmaker[Session]) -> None:
    org = make_org(sessions)
    with sessions() as session:
        assert len(_ids(session)) >= 6  # organisation + five users
        assert audit.verify(session, org.id) == []
    result = CliRunner().invoke(app, ["audit-log", "verify", "--json"])
    assert result.exit_code == 0, result.output
    assert '"ok": true' in result.output


@pytest.mark.parametrize("tampering", ["edit", "delete", "swap"])
def test_tampering_is_detected(sessions: sessionmaker[Session], tampering: str) -> None:
    org = make_org(sessions)
    with sessions() as session, session.begin():
        ids = _ids(session)
        middle = ids[len(ids) // 2]
        if tampering == "edit":
            session.execute(
                update(AuditEvent).where(AuditEvent.id == middle).values(actor_label="someone-else")
            )
        elif tampering == "delete":
            session.execute(AuditEvent.__table__.delete().where(AuditEvent.id == middle))
        else:
            # Swap the contents of two neighbouring rows, keeping their ids: a reordering.
            a, b = (session.get_one(AuditEvent, i) for i in (middle, middle + 1))
            fields = [
                "actor_user_id",
                "actor_label",
                "action",
                "object_type",
                "object_id",
                "before",
                "after",
                "note",
                "created_at",
                "prev_hash",
                "hash",
            ]
            values_a = {f: getattr(a, f) for f in fields}
            values_b = {f: getattr(b, f) for f in fields}
            session.execute(
                update(AuditEvent).where(AuditEvent.id == middle).values(hash="tmp-" + str(middle))
            )
            session.execute(
                update(AuditEvent).where(AuditEvent.id == middle + 1).values(**values_a)
            )
            session.execute(update(AuditEvent).where(AuditEvent.id == middle).values(**values_b))
    with sessions() as session:
        problems = audit.verify(session, org.id)
    assert problems, f"{tampering} went unnoticed"
    result = CliRunner().invoke(app, ["audit-log", "verify"])
    assert result.exit_code == 1


def test_chain_links_consecutive_rows(sessions: sessionmaker[Session]) -> None:
    make_org(sessions)
    with sessions() as session:
        rows = session.execute(text("SELECT prev_hash, hash FROM audit_event ORDER BY id")).all()
    assert rows[0][0] == audit.GENESIS_HASH
    assert all(rows[i][0] == rows[i - 1][1] for i in range(1, len(rows)))
